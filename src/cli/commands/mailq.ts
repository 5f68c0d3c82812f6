/**
 * `bulkmailer mailq`: the queue in Postfix's mailq format, the same listing
 * as `bulkmailer-sendmail -bp` (src/frontends/sendmail/mailq.ts); `--json`
 * is `status --json`. Read-only.
 */
import { writeMailq } from '../../frontends/sendmail/mailq.js';
import type { CommandContext } from '../context.js';
import status from './status.js';

export default async function mailq(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  if (options.json) return status(ctx, options);
  await writeMailq(ctx.home, ctx.stdout, ctx.stderr);
  return 0;
}
