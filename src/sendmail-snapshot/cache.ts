/**
 * Where the sendmail command finds a start-up snapshot it may load: the
 * build's own (dist/bundle/sendmail/snapshot.blob, made by `npm run build`,
 * not in the npm package) or a per-user one in the cache directory
 * (`$XDG_CACHE_HOME/bulkmailer/`, else `~/.cache/bulkmailer/`, on every
 * platform), built by ./build.ts for installs that came without one.
 *
 * A blob only loads into the Node binary that built it, and it holds the
 * code of one bundle, so a cached blob is named by both:
 * `sendmail-<bundle id>-<node version>-<arch>-<binary>-seed<token>-<bytes>.blob`, the
 * bundle id being the hash of dist/bundle/sendmail/snapshot.cjs that the
 * build writes to snapshot.id, <binary> a hash of the real path of the
 * Node binary (two copies of one Node version, nvm's and the system's,
 * each keep their own blob, where they shared a name and took it from each
 * other in turn), <token> the V8 hash seed it was built with and how it
 * runs (`<seed>`: `--hash-seed=<seed>`; `<seed>n`: with
 * --no-rehash-snapshot too; ./hash-seed.ts; dist's blob has its token in
 * snapshot.seed beside it; a blob without a valid one is not used), and the size there because Node does not check
 * one: a truncated blob kills Node (SIGSEGV) instead of being refused
 * (exit 14), so a blob of any other size is not loaded. bin/bulkmailer-sendmail keeps the same rules in shell: the
 * names, the lookup, the order (cached blob first, then dist's) and the
 * trust check (keep the two in step; test/frontends/sendmail-snapshot-
 * cache.test.ts runs both).
 *
 * Which blob is the running Node's: each blob has a symbolic link beside
 * it, `<same name>.node`, to the Node binary that built it, so the
 * launcher (which cannot ask Node its version without starting it) takes
 * the blob whose link names the same file (`test -ef`) as the `node` it is
 * about to run. With two Node versions used in turn, each keeps its own
 * blob; an in-place upgrade of one binary makes its old blob's link match
 * a Node that refuses it (exit 14: one plain start and a rebuild, which
 * prunes the old blob). The version in the name is process.versions.node,
 * the one Node compares when it loads a blob.
 *
 * A blob is code that runs as the user on every message, so it is only
 * used from a directory that is the user's own, not a link, not sticky,
 * and trusted as the spool is with every directory above it
 * (src/trusted-path.ts: writable by nobody but its owner, so 0755 passes,
 * as in the launcher's `find`); created 0700. And only when the blob
 * itself is the user's, a regular file (not a link), not writable by group
 * or others, of the size its name says. Anything else is reported
 * (cacheDirProblem, cachedBlobProblem) and ignored.
 *
 * Pure look-ups (stat, read of snapshot.id); throws nothing: a missing or
 * unreadable piece reads as "no blob".
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findUntrustedPath } from '../trusted-path.js';
import { isSeedToken } from './hash-seed.js';

/** Set to `off` to make the sendmail command neither look for nor build a per-user blob. */
export const SNAPSHOT_CACHE_ENV = 'BULKMAILER_SNAPSHOT_CACHE';

/** dist/bundle/sendmail/ of this install (the tsc output and the bundle both resolve it from dist/). */
function bundleDir(): string {
  return fileURLToPath(new URL('../bundle/sendmail/', import.meta.url));
}

/** The build's own blob, dist/bundle/sendmail/snapshot.blob. */
export function distBlobPath(dir = bundleDir()): string {
  return path.join(dir, 'snapshot.blob');
}

/** The snapshot script a blob is built from. */
export function snapshotScriptPath(dir = bundleDir()): string {
  return path.join(dir, 'snapshot.cjs');
}

/** The file beside dist's blob that holds its seed token (scripts/bundle-sendmail.mjs writes it). */
export function distSeedPath(dir = bundleDir()): string {
  return path.join(dir, 'snapshot.seed');
}

/**
 * The seed token of `blob` (./hash-seed.ts: its V8 hash seed and whether it
 * runs without rehashing), as the launcher finds it: for dist's blob
 * (snapshot.blob) the first line of snapshot.seed beside it, for a cached
 * blob the `seed<token>` part of its name; null when there is none that
 * isSeedToken accepts (the launcher then does not use the blob).
 */
export function blobSeed(blob: string): string | null {
  if (path.basename(blob) === 'snapshot.blob') {
    try {
      const token = fs.readFileSync(distSeedPath(path.dirname(blob)), 'utf8').split('\n')[0]!;
      return isSeedToken(token) ? token : null;
    } catch {
      return null;
    }
  }
  const m = /-seed([^-]*)-\d+\.blob$/.exec(path.basename(blob));
  return m && isSeedToken(m[1]!) ? m[1]! : null;
}

/** The bundle's id (written by scripts/bundle-sendmail.mjs), or null without one. */
export function readBundleId(dir = bundleDir()): string | null {
  try {
    const id = fs.readFileSync(path.join(dir, 'snapshot.id'), 'utf8').trim();
    return /^[0-9a-f]{16,64}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}

/** The per-user cache directory: $XDG_CACHE_HOME/bulkmailer when that is absolute (XDG says to ignore it otherwise), else ~/.cache/bulkmailer. */
export function snapshotCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg.startsWith('/') ? xdg : path.join(env.HOME ?? os.homedir(), '.cache');
  return path.join(base, 'bulkmailer');
}

export interface NodeIdentity {
  version: string;
  arch: string;
  /** nodeBinaryTag of its binary. */
  binary: string;
}

/** 12 hex digits of the hash of the Node binary's real path (its path as given when it has none). */
export function nodeBinaryTag(execPath: string = process.execPath): string {
  let real = execPath;
  try {
    real = fs.realpathSync.native(execPath);
  } catch {
    /* gone or unreadable: its name alone */
  }
  return createHash('sha256').update(real).digest('hex').slice(0, 12);
}

let thisNode: NodeIdentity | undefined;

/** The Node running this (process.versions.node is the version Node compares when it loads a blob). */
function currentNode(): NodeIdentity {
  thisNode ??= { version: `v${process.versions.node}`, arch: process.arch, binary: nodeBinaryTag() };
  return thisNode;
}

/** The start of the names of this bundle's blobs for this Node binary: sendmail-<bundle id>-<node version>-<arch>-<binary>- */
export function cachedBlobPrefix(bundleId: string, node: NodeIdentity = currentNode()): string {
  return `sendmail-${bundleId}-${node.version}-${node.arch}-${node.binary}-`;
}

/** sendmail-<bundle id>-<node version>-<arch>-<binary>-seed<token>-<bytes>.blob (<token>: ./hash-seed.ts's seed token) */
export function cachedBlobName(bundleId: string, token: string, bytes: number, node: NodeIdentity = currentNode()): string {
  return `${cachedBlobPrefix(bundleId, node)}seed${token}-${bytes}.blob`;
}

/** The link beside a blob to the Node binary that built it: the blob's name with `.node` for `.blob`. */
export function nodeLinkOf(blob: string): string {
  return `${blob.slice(0, -'.blob'.length)}.node`;
}

/** The size a blob's name says it has, or null for a name of another shape. */
function namedSize(file: string): number | null {
  const m = /-(\d+)\.blob$/.exec(path.basename(file));
  return m ? Number(m[1]) : null;
}

/** Why a blob in `dir` would not be used, in words, or null when the directory may hold one. */
export function cacheDirProblem(dir: string): { problem: string; fix: string } | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch (err) {
    return { problem: `${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, fix: `remove ${dir}; \`bulkmailer sendmail-snapshot\` makes it again` };
  }
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    return { problem: `${dir} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}`, fix: `remove ${dir}; \`bulkmailer sendmail-snapshot\` makes it again` };
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  // What only the cache directory itself must be: the user's own (root's will not do) and not sticky.
  if (uid !== null && stat.uid !== uid) return { problem: `${dir} is owned by uid ${stat.uid}, not by you (uid ${uid})`, fix: `remove ${dir}; \`bulkmailer sendmail-snapshot\` makes it again` };
  if ((stat.mode & 0o1000) !== 0) return { problem: `${dir} is sticky (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`, fix: `chmod 700 ${dir}` };
  // The rest, for it and every directory above, is the spool's rule.
  let found;
  try {
    found = findUntrustedPath(dir, uid);
  } catch (err) {
    return { problem: `cannot check ${dir} and the directories above it (${(err as Error).message})`, fix: `check the permissions of ${dir} and the directories above it` };
  }
  return found === null ? null : { problem: `${found.path} ${found.problem}`, fix: found.fix };
}

/** Why the blob at `file` would not be used, or null when it may be loaded (its directory checked apart). */
export function cachedBlobProblem(file: string): string | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return `${file} does not exist`;
  }
  if (!stat.isFile()) return `${file} is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`;
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  if (uid !== null && stat.uid !== uid) return `${file} is owned by uid ${stat.uid}, not by you`;
  if ((stat.mode & 0o022) !== 0) return `${file} is writable by others (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`;
  if (blobSeed(file) === null) return `${file} has no V8 hash seed in its name (built by an older bulkmailer)`;
  if (stat.size !== namedSize(file)) return `${file} is ${stat.size} bytes, not the ${namedSize(file) ?? '?'} its name says (cut short)`;
  return null;
}

/** Whether `a` and `b` name the same file (links followed), as the shell's `test -ef`. */
export function sameFile(a: string, b: string): boolean {
  const sa = fs.statSync(a, { throwIfNoEntry: false });
  const sb = sa && fs.statSync(b, { throwIfNoEntry: false });
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * The blob of this bundle that the launcher takes for the Node binary
 * `node` (process.execPath here; the launcher's is the `node` on its PATH):
 * among the blobs whose `.node` link names that binary, the newest; null
 * when there is none. One listing of the directory and a stat or two per
 * blob of this bundle.
 */
export function cachedBlobFor(dir: string, bundleId: string, node: string = process.execPath): string | null {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return null;
  }
  let best: { file: string; mtime: number } | null = null;
  for (const name of names) {
    if (!name.startsWith(`sendmail-${bundleId}-`) || !name.endsWith('.blob')) continue;
    const file = path.join(dir, name);
    if (!sameFile(nodeLinkOf(file), node)) continue;
    const mtime = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs;
    if (mtime !== undefined && (best === null || mtime > best.mtime)) best = { file, mtime };
  }
  return best?.file ?? null;
}
