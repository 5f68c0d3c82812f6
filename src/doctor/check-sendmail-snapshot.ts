/**
 * Doctor: whether the sendmail command starts from a start-up snapshot,
 * and which (src/sendmail-snapshot/): the per-user blob in the cache
 * directory for this Node binary (the one whose `.node` link names it, as
 * the launcher picks it), then dist/'s, in the launcher's order, each
 * loaded once with this Node to see that it loads. None usable is a warning (the command
 * works, with ~40% more CPU per message), with the command that builds
 * one; a cache directory or blob the launcher would not trust says why.
 */
import fs from 'node:fs';
import { blobSeed, cacheDirProblem, cachedBlobFor, cachedBlobProblem, distBlobPath, readBundleId, snapshotCacheDir, SNAPSHOT_CACHE_ENV } from '../sendmail-snapshot/cache.js';
import { lastBuildFailure, tryBlob } from '../sendmail-snapshot/build.js';
import { pass, skip, warn, type CheckResult } from './check.js';

const ID = 'sendmail.snapshot';
const TITLE = 'sendmail start-up snapshot';
const BUILD = 'run `bulkmailer sendmail-snapshot` (builds one for this Node in the cache directory)';

export function checkSendmailSnapshot(env: NodeJS.ProcessEnv = process.env): CheckResult {
  const bundleId = readBundleId();
  if (bundleId === null) return skip(ID, TITLE, 'this install has no snapshot script (dist/bundle/sendmail/snapshot.id): the plain bundle runs');
  const notes: string[] = [];
  if (env[SNAPSHOT_CACHE_ENV] !== 'off') {
    const dir = snapshotCacheDir(env);
    const blob = cachedBlobFor(dir, bundleId);
    if (blob !== null) {
      const problem = cacheDirProblem(dir);
      if (problem !== null) return warn(ID, TITLE, `not using ${blob}: ${problem.problem}`, problem.fix);
      const blobProblem = cachedBlobProblem(blob);
      if (blobProblem !== null) return warn(ID, TITLE, `not using ${blob}: ${blobProblem}`, `rm ${blob}; then ${BUILD}`);
      const tried = tryBlob(blob, blobSeed(blob), env);
      if (tried === 'loads') return pass(ID, TITLE, `${blob} (per-user, for Node ${process.version})`);
      notes.push(`${blob}: ${tried}`);
    }
  } else {
    notes.push(`${SNAPSHOT_CACHE_ENV}=off: no per-user blob`);
  }
  const dist = distBlobPath();
  if (fs.existsSync(dist)) {
    const tried = tryBlob(dist, blobSeed(dist), env);
    if (tried === 'loads') return pass(ID, TITLE, `${dist} (built with the install, for Node ${process.version})`);
    notes.push(`${dist}: ${tried}`);
  }
  const failed = env[SNAPSHOT_CACHE_ENV] === 'off' ? null : lastBuildFailure(env);
  if (failed !== null) notes.push(`the last build failed: ${failed}`);
  return warn(ID, TITLE, `none usable, so each message costs ~40% more CPU (the plain bundle)${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`, BUILD);
}
