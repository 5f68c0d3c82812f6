/**
 * `bulkmailer delete ID... [--yes]`: removes entries from the queue. On a
 * terminal it asks first; without a terminal it needs --yes (exit 64
 * otherwise, so a script never deletes by accident).
 *
 * Never while the entry is being delivered: delete takes the entry's busy
 * lock itself (tryLock, never waits), so no flush can start the entry
 * meanwhile; if a flusher holds it, that entry fails with E_BUSY (exit 75)
 * and the others are still deleted. With the busy lock, the removal is an
 * `updateEntryState` returning REMOVE_ENTRY (under the state lock, so a
 * concurrent `hold`/`retry` cannot re-create the state file), after the
 * deletion is recorded in log/deletions.jsonl (spool/deletion-log.ts).
 *
 * Unknown ids fail before anything is deleted (65 "no such entry").
 */
import { BulkmailerError, ExitCode, usageError } from '../../errors.js';
import {
  appendDeletionLog,
  entryBusyLockPath,
  openSpool,
  readEntryState,
  REMOVE_ENTRY,
  toDeletionRecord,
  tryLock,
  updateEntryState,
  type EntryChange,
  type Spool,
} from '../../spool/index.js';
import type { CommandContext } from '../context.js';
import { resolveEntryArgs } from '../entry-args.js';
import { writeOut } from '../output.js';
import { canAsk, confirm } from '../prompt.js';
import { plural } from '../../text.js';

export function busyError(id: string, pid: number | null): BulkmailerError {
  const by = pid ? ` by pid ${pid}` : '';
  return new BulkmailerError(
    'E_BUSY',
    `entry ${id} is busy: it is being delivered right now${by}. Try again when the flush is done, or ` +
      `\`bulkmailer hold ${id}\` to stop it after the current transaction, then delete it`,
    { exitCode: ExitCode.tempFail },
  );
}

type DeleteResult = { deleted: true; undelivered: number } | { deleted: false; reason: 'gone' };

/** Deletes one entry unless a flusher is delivering it (then throws E_BUSY). */
export async function deleteEntry(spool: Spool, id: string, now: number = Date.now()): Promise<DeleteResult> {
  const busy = tryLock(entryBusyLockPath(spool, id));
  if (!busy.acquired) throw busyError(id, busy.owner?.pid ?? null);
  try {
    let result: DeleteResult = { deleted: false, reason: 'gone' };
    await updateEntryState(spool, id, async (state): Promise<EntryChange> => {
      const record = toDeletionRecord(state, now);
      await appendDeletionLog(spool, record);
      result = { deleted: true, undelivered: record.undelivered.length };
      return REMOVE_ENTRY;
    });
    return result;
  } finally {
    busy.lock.release();
  }
}

export default async function deleteCommand(ctx: CommandContext, typed: string[], options: { yes?: boolean }): Promise<number> {
  const spool = await openSpool(ctx.home);
  const ids = await resolveEntryArgs(spool, typed);
  if (!options.yes) {
    if (!canAsk(ctx)) throw usageError('not deleting without a terminal to ask on; add --yes to delete anyway');
    let undelivered = 0;
    for (const id of ids) {
      const state = await readEntryState(spool, id).catch(() => null);
      undelivered += state?.recipients.filter((r) => r.status === 'pending' || r.status === 'deferred').length ?? 0;
    }
    const what = ids.length === 1 ? `entry ${ids[0]}` : plural(ids.length, 'entry', 'entries');
    if (!(await confirm(ctx, `Delete ${what} (${plural(undelivered, 'recipient')} not yet delivered)?`))) {
      ctx.stderr.write('nothing deleted\n');
      return ExitCode.ok;
    }
  }
  let firstError: BulkmailerError | null = null;
  for (const id of ids) {
    try {
      const result = await deleteEntry(spool, id);
      if (result.deleted) await writeOut(ctx, `${id}: deleted (${result.undelivered} undelivered recipient${result.undelivered === 1 ? '' : 's'})\n`);
      else await writeOut(ctx, `${id}: already gone (delivered meanwhile)\n`);
    } catch (err) {
      if (!(err instanceof BulkmailerError)) throw err;
      ctx.stderr.write(`bulkmailer: ${err.message}\n`);
      firstError ??= err;
    }
  }
  if (firstError !== null) return firstError.exitCode;
  return ExitCode.ok;
}
