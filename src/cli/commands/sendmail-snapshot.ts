/**
 * `bulkmailer sendmail-snapshot`: builds the sendmail command's start-up
 * snapshot for this Node in the per-user cache directory now
 * (src/sendmail-snapshot/build.ts), replacing this Node's older one, and
 * prints where it is. For installs without dist's blob (the npm package)
 * and after upgrading Node; the sendmail command also starts this build by
 * itself, in the background, after queueing a message without a snapshot.
 * Exit 0 built; 75 another build is running; 77 the cache directory may
 * not be trusted; 70 Node could not build or load the blob; 69 no
 * snapshot script in this install.
 */
import { buildCachedSnapshot } from '../../sendmail-snapshot/build.js';
import type { CommandContext } from '../context.js';
import { writeOut } from '../output.js';

export default async function sendmailSnapshot(ctx: CommandContext): Promise<number> {
  const built = buildCachedSnapshot(ctx.env);
  await writeOut(ctx, `built ${built.path} (${(built.bytes / 1_048_576).toFixed(1)} MB) for Node ${process.version}: the sendmail command starts from it\n`);
  return 0;
}
