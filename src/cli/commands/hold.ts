/**
 * `bulkmailer hold ID...`: a held entry is never delivered until released
 * (setHeld). Safe during a flush: the flusher re-reads the state before
 * each transaction, so the hold stops the entry's next transaction; the
 * one in flight finishes and is recorded (updateEntryState serialises the
 * two writes, neither is lost). `release.ts` is the reverse, sharing
 * `setHeldCommand`.
 *
 * Fails before changing anything when an id is unknown (65) or ambiguous (64).
 */
import { setHeld } from '../../model/transitions.js';
import { nudgeFlusher, openSpool, updateEntryState } from '../../spool/index.js';
import type { CommandContext } from '../context.js';
import { noSuchEntry, resolveEntryArgs } from '../entry-args.js';
import { writeOut } from '../output.js';

export async function setHeldCommand(ctx: CommandContext, typed: string[], held: boolean): Promise<number> {
  const spool = await openSpool(ctx.home);
  const ids = await resolveEntryArgs(spool, typed);
  let released = 0;
  let missing: string | null = null;
  for (const id of ids) {
    const before = { held: null as boolean | null };
    const after = await updateEntryState(spool, id, (current) => {
      before.held = current.held;
      return current.held === held ? null : setHeld(current, held);
    });
    if (after === null) {
      // Finished (every recipient final) or deleted between the check and now.
      missing ??= id;
      ctx.stderr.write(`bulkmailer: no such entry: ${id} (delivered or deleted meanwhile)\n`);
      continue;
    }
    if (!held && before.held === true) released++;
    const verb = held ? 'held' : 'released';
    await writeOut(ctx, `${id}: ${before.held === held ? `already ${verb}` : verb}\n`);
  }
  if (released > 0) await nudgeFlusher(spool);
  if (missing !== null) throw noSuchEntry(missing);
  return 0;
}

export default function hold(ctx: CommandContext, typed: string[]): Promise<number> {
  return setHeldCommand(ctx, typed, true);
}
