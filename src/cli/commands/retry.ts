/**
 * `bulkmailer retry ID...|--all`: deferred recipients become due now
 * (makeDueNow), `--all` also lifts every account pause and hold
 * (src/model/account-hold.ts), then a running agent is nudged to flush. Each entry is
 * changed with updateEntryState (the entry's state lock around
 * read-modify-write), so a flush recording a transaction on the same entry
 * at the same moment loses nothing, and neither does retry.
 *
 * Fails before changing anything when an id is unknown (65) or ambiguous
 * (64); with neither ids nor --all, or with both, it is a usage error (64).
 */
import { makeDueNow } from '../../model/transitions.js';
import { usageError } from '../../errors.js';
import { clearAccountHolds, listEntryIds, nudgeFlusher, openSpool, updateEntryState } from '../../spool/index.js';
import { isProviderPause } from '../../model/account-hold.js';
import type { CommandContext } from '../context.js';
import { resolveEntryArgs } from '../entry-args.js';
import { writeOut } from '../output.js';
import { plural } from '../../text.js';

export default async function retry(ctx: CommandContext, typed: string[], options: { all?: boolean }): Promise<number> {
  if (options.all && typed.length > 0) throw usageError('give entry ids or --all, not both');
  if (!options.all && typed.length === 0) throw usageError('which entries? give their ids, or --all');
  const spool = await openSpool(ctx.home);
  const ids = options.all ? await listEntryIds(spool) : await resolveEntryArgs(spool, typed);
  let recipients = 0;
  let entries = 0;
  for (const id of ids) {
    let changed = 0;
    const after = await updateEntryState(spool, id, (current) => {
      const result = makeDueNow(current);
      changed = result.changed;
      return result.changed > 0 ? result.state : null;
    });
    if (after === null) continue; // delivered or deleted meanwhile: nothing left to retry
    if (changed > 0) {
      entries++;
      recipients += changed;
    }
    if (!options.all) {
      await writeOut(ctx, `${id}: ${changed === 0 ? 'no deferred recipient waiting' : `${changed} deferred recipient${changed === 1 ? '' : 's'} due now`}${after.held ? ' (entry is held: release it to send)' : ''}\n`);
    }
  }
  let lifted = 0;
  if (options.all) {
    await writeOut(ctx, `${plural(recipients, 'deferred recipient')} in ${plural(entries, 'entry', 'entries')} due now\n`);
    // Every account pause and hold lifts too: the next flush asks the provider again.
    for (const hold of clearAccountHolds(spool)) {
      lifted++;
      await writeOut(ctx, `lifted the ${isProviderPause(hold.kind) ? 'pause' : 'hold'} of account ${hold.account} (${hold.reply})\n`);
    }
  }
  if (recipients > 0 || lifted > 0) await nudgeFlusher(spool);
  return 0;
}
