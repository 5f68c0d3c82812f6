/**
 * Where the sendmail command finds a start-up snapshot it may load: the
 * build's own (dist/bundle/sendmail/snapshot.blob, made by `npm run build`,
 * not in the npm package) or a per-user one in the cache directory
 * (`$XDG_CACHE_HOME/bulkmailer/`, else `~/.cache/bulkmailer/`, on every
 * platform), built by ./build.ts for installs that came without one.
 *
 * A blob only loads into the Node binary that built it, and it holds the
 * code of one bundle, so a cached blob is named by both:
 * `sendmail-<bundle id>-<node version>-<arch>-<bytes>.blob`, the bundle
 * id being the hash of dist/bundle/sendmail/snapshot.cjs that the build
 * writes to snapshot.id, and the size there because Node does not check
 * one: a truncated blob kills Node (SIGSEGV) instead of being refused
 * (exit 14), so a blob of any other size is not loaded. bin/bulkmailer-sendmail keeps the same rules in shell: the
 * names, the lookup, the order (cached blob first, then dist's) and the
 * trust check (keep the two in step; test/frontends/sendmail-snapshot-
 * cache.test.ts runs both).
 *
 * A blob is code that runs as the user on every message, so it is only
 * used from a directory that is the user's own, not a link, and open to
 * nobody else (mode 0700 or stricter), with every directory above it
 * trusted as the spool is (src/trusted-path.ts): created 0700, and refused
 * when writable by group or others or sticky; and only when the blob
 * itself is the user's, a regular file (not a link), not writable by group
 * or others, of the size its name says. Anything else is reported
 * (cacheDirProblem, cachedBlobProblem) and ignored.
 *
 * Pure look-ups (stat, read of snapshot.id); throws nothing: a missing or
 * unreadable piece reads as "no blob".
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findUntrustedPath } from '../trusted-path.js';

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
}

const THIS_NODE: NodeIdentity = { version: process.version, arch: process.arch };

/** The start of the names of this bundle's blobs for this Node: sendmail-<bundle id>-<node version>-<arch>- */
export function cachedBlobPrefix(bundleId: string, node: NodeIdentity = THIS_NODE): string {
  return `sendmail-${bundleId}-${node.version}-${node.arch}-`;
}

/** sendmail-<bundle id>-<node version>-<arch>-<bytes>.blob */
export function cachedBlobName(bundleId: string, bytes: number, node: NodeIdentity = THIS_NODE): string {
  return `${cachedBlobPrefix(bundleId, node)}${bytes}.blob`;
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
  if (uid !== null && stat.uid !== uid) return { problem: `${dir} is owned by uid ${stat.uid}, not by you (uid ${uid})`, fix: `remove ${dir}; \`bulkmailer sendmail-snapshot\` makes it again` };
  if ((stat.mode & 0o1022) !== 0) {
    const who = (stat.mode & 0o022) === 0 ? 'sticky' : `writable by ${(stat.mode & 0o002) !== 0 ? 'everyone' : 'its group'}`;
    return { problem: `${dir} is ${who} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')})`, fix: `chmod 700 ${dir}` };
  }
  let above;
  try {
    above = findUntrustedPath(path.dirname(dir), uid);
  } catch (err) {
    return { problem: `cannot check the directories above ${dir} (${(err as Error).message})`, fix: `check the permissions of the directories above ${dir}` };
  }
  return above === null ? null : { problem: `${above.path} ${above.problem}`, fix: above.fix };
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
  if (stat.size !== namedSize(file)) return `${file} is ${stat.size} bytes, not the ${namedSize(file) ?? '?'} its name says (cut short)`;
  return null;
}

/** The cached blobs of this bundle (for any Node unless `prefix` narrows it), newest first: the launcher tries the newest. */
export function cachedBlobsOf(dir: string, prefix: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && n.endsWith('.blob'))
    .map((n) => path.join(dir, n))
    .map((file) => ({ file, mtime: fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.mtime - a.mtime)
    .map((b) => b.file);
}
