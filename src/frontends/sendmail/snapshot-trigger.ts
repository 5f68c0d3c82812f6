/**
 * After the plain bundle queued a message because the launcher had no
 * start-up snapshot it could use (bin/bulkmailer-sendmail says so in
 * $BULKMAILER_NO_SNAPSHOT): start the per-user blob's background build
 * (src/sendmail-snapshot/build.ts), so that the next message starts from
 * it. Only for the mode the snapshot runs (queueing): -bp, -q and the
 * rest run the plain bundle by design. Loaded on demand (its own chunk),
 * after the exit code is known; never throws.
 */
import { startBackgroundBuild } from '../../sendmail-snapshot/build.js';
import { parseSendmailArgs } from './parse-args.js';
import { personaOf } from './persona.js';
import { snapshotRuns } from './snapshot-entry.js';

export function startSnapshotBuildAfterQueueing(argv: string[], scriptPath: string | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    if (!snapshotRuns(parseSendmailArgs(argv), personaOf(scriptPath))) return false;
  } catch {
    return false;
  }
  return startBackgroundBuild(env);
}
