/**
 * Builds the sendmail command's per-user start-up snapshot (./cache.ts says
 * where and why): `node --build-snapshot` on dist/bundle/sendmail/
 * snapshot.cjs with the Node that runs this (the `node` the launcher
 * starts) and `--hash-seed=<seed>`, a seed drawn for this blob
 * (./hash-seed.ts: random, cheap for V8's start-up), into a temp file in
 * the cache directory, checked by loading it (without rehashing where this
 * Node allows: its name then carries the seed token the launcher runs it
 * with)
 * once (a usage error it must report itself, exit 64), fsynced, then
 * renamed into place, its `.node` link to this Node binary (./cache.ts)
 * first: a concurrent or interrupted build never leaves a torn blob under
 * a name the launcher loads.
 *
 * One build at a time per bundle and Node: a marker created with O_EXCL
 * (`<name prefix>building`) is taken before the build starts (by the
 * sendmail command before it spawns the background build, so a burst of
 * 300 messages starts one), removed when the build ends; one older than
 * 10 minutes belongs to a build that died and is taken over. A build that
 * failed leaves `<name prefix>failed` with its reason: the sendmail command
 * does not try again for a day (`bulkmailer sendmail-snapshot` does), and
 * checks that marker first, with one stat, so that while builds keep
 * failing a message costs no listing of the cache.
 * After a build, this bundle's other blobs for the same Node binary (an
 * older build, or the binary's previous version after an in-place
 * upgrade), blobs whose Node binary is gone or that have no link, blobs of
 * other bundles older than a week (other bulkmailer versions) and dead
 * temp files are removed; other Node versions' blobs of this bundle stay.
 *
 * Fails with E_UNTRUSTED_PATH (77) when the cache directory may not be
 * trusted, E_SNAPSHOT_BUSY (75) when another build holds the marker,
 * E_SNAPSHOT_BUILD (70) when Node cannot build or load the blob (or takes
 * over BUILD_TIMEOUT_MS to: killed), and
 * E_SNAPSHOT_BUNDLE (69) when this install has no snapshot script.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulkmailerError, ExitCode } from '../errors.js';
import { cacheDirProblem, cachedBlobFor, cachedBlobName, cachedBlobPrefix, nodeLinkOf, readBundleId, sameFile, snapshotCacheDir, snapshotScriptPath, SNAPSHOT_CACHE_ENV } from './cache.js';
import { chooseHashSeed, hashSeedBuildFlags, holdsSecretsOf, seedToken, seedTokenFlags } from './hash-seed.js';

const MARKER_STALE_MS = 10 * 60_000;
const FAILED_RETRY_MS = 24 * 3_600_000;
const OTHER_BUNDLE_KEPT_MS = 7 * 24 * 3_600_000;
const TEMP_STALE_MS = 3_600_000;
/**
 * How long a build or a load of a blob may take before its Node is killed
 * (SIGKILL) and the build counts as failed (the failure marker): a hung
 * background build would hold its marker, and after MARKER_STALE_MS every
 * further message would start another beside it. A build takes ~1-3 s.
 */
export const BUILD_TIMEOUT_MS = 60_000;

export interface BuiltSnapshot {
  path: string;
  bytes: number;
  /** Its seed token (./hash-seed.ts): the V8 hash seed and whether it runs without rehashing. */
  token: string;
}

interface Place {
  dir: string;
  bundleId: string;
  prefix: string;
  building: string;
  failed: string;
}

function placeOf(env: NodeJS.ProcessEnv): Place {
  const bundleId = readBundleId();
  if (bundleId === null || !fs.existsSync(snapshotScriptPath())) {
    throw new BulkmailerError('E_SNAPSHOT_BUNDLE', `this install has no sendmail snapshot script (${snapshotScriptPath()} or its snapshot.id is missing); run npm run build`, { exitCode: ExitCode.unavailable });
  }
  const dir = snapshotCacheDir(env);
  const prefix = cachedBlobPrefix(bundleId);
  return { dir, bundleId, prefix, building: path.join(dir, `${prefix}building`), failed: path.join(dir, `${prefix}failed`) };
}

/** Makes the cache directory (0700) if need be, and throws E_UNTRUSTED_PATH unless it may hold a blob. */
function prepareDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new BulkmailerError('E_UNTRUSTED_PATH', `cannot make ${dir}: ${(err as Error).message}`, { exitCode: ExitCode.cantCreate, cause: err });
  }
  const problem = cacheDirProblem(dir);
  if (problem !== null) throw new BulkmailerError('E_UNTRUSTED_PATH', `refusing the snapshot cache ${dir}: ${problem.problem}; ${problem.fix}`, { exitCode: ExitCode.noPerm });
}

function ageOf(file: string, now: number): number | null {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  return stat === undefined ? null : now - stat.mtimeMs;
}

/** Takes the build marker (O_EXCL); false when a live build holds it. A stale one is taken over. */
function takeMarker(marker: string, now = Date.now()): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(marker, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false;
      const age = ageOf(marker, now);
      if (age !== null && age < MARKER_STALE_MS) return false;
      fs.rmSync(marker, { force: true }); // a dead build's: take over (two takers at worst build twice; the rename keeps it whole)
    }
  }
  return false;
}

function withoutNodeOptions(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // Built and checked without V8 flags, as the launcher starts Node (scripts/bundle-sendmail.mjs does the same).
  const clean = { ...env };
  delete clean.NODE_OPTIONS;
  delete clean.BULKMAILER_STDERR_FD;
  return clean;
}

/**
 * Whether this Node loads `file` as the sendmail snapshot, run as the
 * launcher runs it (with the flags of its seed token, `token`; null: the
 * launcher would not use it): started with an unknown option, the
 * snapshot answers it itself (64) without reading or touching anything; a
 * blob Node refuses exits 14. 'loads' or why not.
 */
export function tryBlob(file: string, token: string | null, env: NodeJS.ProcessEnv = process.env, timeoutMs = BUILD_TIMEOUT_MS): 'loads' | string {
  if (token === null) return 'no valid V8 hash seed recorded for it (built by an older bulkmailer?)';
  const tried = spawnSync(process.execPath, [...seedTokenFlags(token), '--snapshot-blob', file, 'bulkmailer-sendmail', '-Z'], { env: withoutNodeOptions(env), stdio: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (tried.status === ExitCode.usage) return 'loads';
  if (tried.status === 14) return `${process.version} refuses it (built by another Node, or with another hash seed)`;
  return spawnFailure(tried, timeoutMs);
}

/** Why a spawnSync of Node that did not do what was asked ended: not started, timed out (and killed), its exit code or signal. */
function spawnFailure(result: { error?: Error; status: number | null; signal: NodeJS.Signals | null }, timeoutMs: number): string {
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') return `node did not finish in ${timeoutMs / 1000} s (killed)`;
  return result.error?.message ?? `node ${result.status !== null ? `exited ${result.status}` : `died of ${result.signal}`}`;
}

/**
 * The seed token a blob built with `--hash-seed=<seed>` runs with on this
 * Node: `<seed>n` (no rehash) when it loads that way (Node 22, 24) and
 * holds its seed's secrets, else `<seed>` (Node 20, which loads a blob only
 * with its build's flags); or why it loads neither way. Without the
 * rehash V8 hashes with the secrets stored in the blob, whatever
 * --hash-seed says: a blob whose builder did not rehash (some Node build)
 * holds Node's own, shared by every copy of that Node, and is run rehashed.
 */
export function runTokenFor(file: string, seed: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = BUILD_TIMEOUT_MS): { token: string } | { problem: string } {
  const fast = tryBlob(file, seedToken(seed, false), env, timeoutMs);
  if (fast === 'loads' && holdsSecretsOf(fs.readFileSync(file), seed)) return { token: seedToken(seed, false) };
  const tried = tryBlob(file, seedToken(seed, true), env, timeoutMs);
  return tried === 'loads' ? { token: seedToken(seed, true) } : { problem: tried };
}

/**
 * Builds the snapshot of `script` into `file` with a V8 hash seed drawn for
 * it (./hash-seed.ts), then learns the seed token it runs with
 * (runTokenFor): how every blob is made, dist's (scripts/bundle-sendmail.mjs)
 * and a per-user one (buildBlob). On a problem `file` may be left: the
 * caller removes it.
 */
export function buildSeededBlob(file: string, script: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = BUILD_TIMEOUT_MS): { token: string } | { problem: string } {
  const seed = chooseHashSeed();
  const made = spawnSync(process.execPath, [...hashSeedBuildFlags(seed), '--snapshot-blob', file, '--build-snapshot', script], { env: withoutNodeOptions(env), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (made.status !== 0) return { problem: `${spawnFailure(made, timeoutMs)}${made.error === undefined ? `: ${(made.stderr ?? '').trim().split('\n').slice(-3).join(' ')}` : ''}` };
  const run = runTokenFor(file, seed, env, timeoutMs);
  return 'problem' in run ? { problem: `the blob it built does not load (${run.problem})` } : run;
}

function buildBlob(place: Place, env: NodeJS.ProcessEnv, timeoutMs: number): BuiltSnapshot {
  const temp = path.join(place.dir, `.${place.prefix}${process.pid}.tmp`);
  const fail = (why: string): never => {
    fs.rmSync(temp, { force: true });
    throw new BulkmailerError('E_SNAPSHOT_BUILD', `cannot build the sendmail start-up snapshot with ${process.execPath} (${process.version}): ${why}`, { exitCode: ExitCode.software });
  };
  const built = buildSeededBlob(temp, snapshotScriptPath(), env, timeoutMs);
  if ('problem' in built) fail(built.problem);
  const { token } = built as { token: string };
  let bytes = 0;
  let fd: number | null = null;
  try {
    fd = fs.openSync(temp, 'r+');
    fs.fchmodSync(fd, 0o600);
    fs.fsyncSync(fd);
    bytes = fs.fstatSync(fd).size;
  } catch (err) {
    // ENOSPC or EIO at fsync: the temp blob goes now, not at a later build's prune.
    fail(`cannot write it out: ${(err as Error).message}`);
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  const target = path.join(place.dir, cachedBlobName(place.bundleId, token, bytes));
  // The link first: a blob the launcher can find always has it (the blob without it is pruned, never chosen).
  const tempLink = `${temp}.node`;
  try {
    fs.rmSync(tempLink, { force: true });
    fs.symlinkSync(process.execPath, tempLink);
    fs.renameSync(tempLink, nodeLinkOf(target));
  } catch (err) {
    fs.rmSync(tempLink, { force: true });
    fail(`cannot link it to ${process.execPath}: ${(err as Error).message}`);
  }
  fs.renameSync(temp, target);
  return { path: target, bytes, token };
}

/**
 * Removes, beside the blob just built (`kept`): this bundle's blobs for the
 * same Node binary (its name's version and binary, or its link naming this
 * binary: the version before an upgrade in place), or whose Node binary is
 * gone (their `.node` link dangles), or that have no link (an older
 * bulkmailer's, or a build that died between link and blob); links
 * without their blob; blobs of other bundles not built this week; dead
 * temp files. Other Node binaries' blobs of this bundle are kept (another
 * version, or another copy of this one): each Node that runs the command
 * keeps its own.
 */
function prune(place: Place, kept: string, now = Date.now()): void {
  const ours = `sendmail-${place.bundleId}-`;
  for (const name of fs.readdirSync(place.dir)) {
    const file = path.join(place.dir, name);
    if (file === kept || file === nodeLinkOf(kept)) continue;
    const age = ageOf(file, now) ?? 0;
    const settled = age > TEMP_STALE_MS; // not a build in progress elsewhere (its link made, its blob not yet renamed)
    let gone = false;
    if (name.startsWith('sendmail-') && name.endsWith('.blob')) {
      const link = nodeLinkOf(file);
      if (!name.startsWith(ours)) gone = age > OTHER_BUNDLE_KEPT_MS;
      else if (name.startsWith(place.prefix) || sameFile(link, process.execPath)) gone = true;
      else gone = !fs.existsSync(link); // no link (the link is made first), or its Node binary is gone
      if (gone) fs.rmSync(link, { force: true });
    } else if (name.startsWith('sendmail-') && name.endsWith('.node')) {
      gone = settled && !fs.existsSync(`${file.slice(0, -'.node'.length)}.blob`);
    } else if (name.startsWith('.sendmail-') && name.endsWith('.tmp')) {
      gone = settled;
    }
    if (gone) fs.rmSync(file, { force: true });
  }
}

/**
 * Builds this install's blob for this Node into the cache directory, now.
 * `markerHeld`: the caller (the background build) already holds the marker.
 * `timeoutMs`: how long its build and each load may take (BUILD_TIMEOUT_MS).
 */
export function buildCachedSnapshot(env: NodeJS.ProcessEnv = process.env, options: { markerHeld?: boolean; timeoutMs?: number } = {}): BuiltSnapshot {
  const place = placeOf(env);
  if (!options.markerHeld) {
    prepareDir(place.dir);
    if (!takeMarker(place.building)) {
      throw new BulkmailerError('E_SNAPSHOT_BUSY', `another build of the sendmail snapshot is running (${place.building}); try again in a minute`, { exitCode: ExitCode.tempFail });
    }
  }
  try {
    if (options.markerHeld) prepareDir(place.dir); // checked again: time passed since the sendmail command looked
    const built = buildBlob(place, env, options.timeoutMs ?? BUILD_TIMEOUT_MS);
    fs.rmSync(place.failed, { force: true });
    prune(place, built.path);
    return built;
  } catch (err) {
    try {
      fs.writeFileSync(place.failed, `${(err as Error).message}\n`, { mode: 0o600 });
    } catch {
      /* the error itself is what matters */
    }
    throw err;
  } finally {
    fs.rmSync(place.building, { force: true });
  }
}

/** The reason the last build for this Node failed, if one did (for doctor). */
export function lastBuildFailure(env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    return fs.readFileSync(placeOf(env).failed, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Starts one detached build of the blob in the background, stdio on
 * /dev/null (cron waits for EOF on the pipes it gave us), for a sendmail
 * command whose launcher found no usable blob: unless the cache is turned
 * off or not trusted, a build runs, one ended since this process started,
 * or one failed less than a day ago. Returns whether it started one;
 * never throws. Cheapest refusals first: the two markers (a stat each),
 * then the directory's trust, and only then a listing of it.
 */
export function startBackgroundBuild(env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    if (env[SNAPSHOT_CACHE_ENV] === 'off') return false;
    // Without $HOME (or an absolute $XDG_CACHE_HOME) the launcher has no cache to look in: a build would be for nothing, every message.
    if (!env.XDG_CACHE_HOME?.startsWith('/') && !env.HOME) return false;
    const place = placeOf(env);
    // First, by one stat: while builds keep failing, each message stops here (no listing, no trust walk).
    const now = Date.now();
    const failedAge = ageOf(place.failed, now);
    if (failedAge !== null && failedAge < FAILED_RETRY_MS) return false;
    // And by one more while a build runs (every message of a burst comes here until it ends).
    const buildingAge = ageOf(place.building, now);
    if (buildingAge !== null && buildingAge < MARKER_STALE_MS) return false;
    // A directory that may not be trusted is refused before it is listed: nothing would be built there anyway.
    prepareDir(place.dir);
    // A blob for this Node that was there when the launcher looked was not usable (refused, cut
    // short, writable by others): build anew. One that appeared since (another build just ended) is used next time.
    const started = performance.timeOrigin;
    const current = cachedBlobFor(place.dir, place.bundleId);
    if (current !== null && (fs.statSync(current, { throwIfNoEntry: false })?.mtimeMs ?? 0) >= started) return false;
    if (!takeMarker(place.building)) return false;
    const script = fileURLToPath(new URL('./background.js', import.meta.url));
    try {
      spawn(process.execPath, [script], { detached: true, stdio: 'ignore', env: withoutNodeOptions(env) }).unref();
    } catch (err) {
      fs.rmSync(place.building, { force: true });
      throw err;
    }
    return true;
  } catch {
    return false; // the message is queued; a snapshot not built only costs speed
  }
}
