/**
 * After the plain bundle queued a message because the launcher had no
 * start-up snapshot it could use (bin/bulkmailer-sendmail says so in
 * $BULKMAILER_NO_SNAPSHOT): start the per-user blob's background build
 * (src/sendmail-snapshot/build.ts), so that the next message starts from
 * it. Only for the mode the snapshot runs (queueing): -bp, -q and the
 * rest run the plain bundle by design. Loaded on demand (its own chunk),
 * after the exit code is known, with the arguments sendmailMain parsed
 * (argv is not parsed a second time); never throws.
 */
import { startBackgroundBuild } from '../../sendmail-snapshot/build.js';
import type { SendmailArgs } from './parse-args.js';
import type { SendmailPersona } from './persona.js';
import { snapshotRuns } from './snapshot-entry.js';

/** `args` as sendmailMain parsed them (not argv again), `persona` as the command was called. */
export function startSnapshotBuildAfterQueueing(args: SendmailArgs, persona: SendmailPersona, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!snapshotRuns(args, persona)) return false;
  return startBackgroundBuild(env);
}
