/**
 * log/deletions.jsonl: one JSON line per entry a user deleted, with the
 * recipients that had not been delivered. A deletion is not a delivery
 * outcome, so it stays out of log/deliveries.jsonl (whose records mean
 * "the smarthost said so" and which scripts count); the two files sit side
 * by side and `bulkmailer log` names this one when it exists.
 *
 * Appended and fsynced before the entry is removed (under the entry's state
 * lock, see `deleteEntry`): a crash in between leaves the entry in the
 * queue and a line saying it was deleted (delete it again); never an entry
 * gone without a trace.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EntryState } from '../model/entry-state.js';
import { fromFsError } from '../errors.js';
import { deletionLogPath, type Spool } from './paths.js';
import { APPEND_NOFOLLOW, fsyncDir } from './durable-fs.js';

export interface DeletionRecord {
  time: string;
  id: string;
  from: string;
  subject: string | null;
  messageId: string | null;
  /** Recipients delivered before the deletion. */
  sent: number;
  /** Recipients that had failed (their DSN handled as usual). */
  failed: number;
  /** Recipients that will now never be delivered. */
  undelivered: string[];
}

export function toDeletionRecord(state: EntryState, now: number): DeletionRecord {
  return {
    time: new Date(now).toISOString(),
    id: state.id,
    from: state.from,
    subject: state.subject,
    messageId: state.messageId,
    sent: state.recipients.filter((r) => r.status === 'sent').length,
    failed: state.recipients.filter((r) => r.status === 'failed').length,
    undelivered: state.recipients.filter((r) => r.status === 'pending' || r.status === 'deferred').map((r) => r.address),
  };
}

export async function appendDeletionLog(spool: Spool, record: DeletionRecord): Promise<void> {
  try {
    const handle = await fs.open(deletionLogPath(spool), APPEND_NOFOLLOW, 0o600);
    try {
      await handle.write(JSON.stringify(record) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The first deletion creates the file: its name must be durable before the entry's removal is.
    await fsyncDir(path.dirname(deletionLogPath(spool)));
  } catch (err) {
    throw fromFsError(`cannot record the deletion of ${record.id}`, err);
  }
}
