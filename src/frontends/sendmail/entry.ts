/**
 * What bin/bulkmailer-sendmail runs, as one module: the entry point of the
 * sendmail command's bundle (scripts/bundle-sendmail.mjs builds
 * dist/bundle/sendmail/entry.js from it). Everything the bin imports comes
 * through here, so the bundle holds one copy of each module.
 */
import type { SendmailArgs } from './parse-args.js';
import type { SendmailPersona } from './persona.js';

export { personaOf, sendmailMain } from './main.js';
export { endQuietlyWhenReaderGoes } from '../../output-stream.js';

/** The launcher's word that no start-up snapshot was usable (bin/bulkmailer-sendmail sets it for the plain bundle). */
export const NO_SNAPSHOT_ENV = 'BULKMAILER_NO_SNAPSHOT';

/** After a message queued without a snapshot: start building one in the background (./snapshot-trigger.ts, loaded only then). `args`: as sendmailMain parsed them. */
export async function startSnapshotBuildAfterQueueing(args: SendmailArgs, persona: SendmailPersona): Promise<void> {
  try {
    (await import('./snapshot-trigger.js')).startSnapshotBuildAfterQueueing(args, persona);
  } catch {
    // Only the speed-up is lost.
  }
}
