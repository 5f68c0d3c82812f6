/**
 * The detached background build of the sendmail command's per-user
 * start-up snapshot: a program (`node dist/sendmail-snapshot/background.js`)
 * that startBackgroundBuild (./build.ts) spawns after the command queued a
 * message without a snapshot, with the build marker already taken. Its
 * stdio is /dev/null: a failure is recorded in the cache directory's
 * `...failed` file (bulkmailer doctor shows it), and the exit code says it.
 */
import { buildCachedSnapshot } from './build.js';

try {
  buildCachedSnapshot(process.env, { markerHeld: true });
} catch {
  process.exitCode = 1;
}
