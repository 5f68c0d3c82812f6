/**
 * log/deliveries.jsonl: one JSON line per recipient that became final
 * (sent, failed, expired), written before the entry is removed. The state
 * files are the commit record; see DeliveryLogWriter for when lines are
 * durable.
 */
import fsSync from 'node:fs';
import { APPEND_NOFOLLOW, fsyncFd } from './durable-fs.js';
import type { FinalOutcome } from '../model/transitions.js';
import { deliveryLogPath, type Spool } from './paths.js';

export interface DeliveryLogRecord {
  time: string;
  id: string;
  from: string;
  recipient: string;
  status: 'sent' | 'failed';
  attempts: number;
  reply: string;
  expired: boolean;
  smarthost: string;
  /** The sending account (absent for direct delivery, and in lines written before accounts). */
  account?: string;
  messageId: string | null;
  /** An earlier transaction may also have delivered it (absent in lines written before this field). */
  possibleDuplicate?: boolean;
}

export function toLogRecords(
  entry: { id: string; from: string; messageId: string | null },
  finals: readonly FinalOutcome[],
  smarthost: string,
  now: number,
  account?: string,
): DeliveryLogRecord[] {
  const time = new Date(now).toISOString();
  return finals.map((f) => ({
    time,
    id: entry.id,
    from: entry.from,
    recipient: f.address,
    status: f.status,
    attempts: f.attempts,
    reply: f.reply,
    expired: f.expired,
    smarthost,
    ...(account === undefined ? {} : { account }),
    messageId: entry.messageId,
    ...(f.possibleDuplicate ? { possibleDuplicate: true } : {}),
  }));
}

/**
 * An open delivery log for a flush. Lines are appended (one write per
 * transaction, O_APPEND, so concurrent workers never interleave within a
 * line) and fsynced when the flush ends. The state files, not this log, are
 * the commit record: a power cut during a flush can lose the log lines of
 * its last moments, never a recipient.
 */
export class DeliveryLogWriter {
  private constructor(private readonly fd: number) {}

  static async open(spool: Spool): Promise<DeliveryLogWriter> {
    return new DeliveryLogWriter(fsSync.openSync(deliveryLogPath(spool), APPEND_NOFOLLOW, 0o600));
  }

  write(records: readonly DeliveryLogRecord[]): void {
    if (records.length === 0) return;
    fsSync.writeSync(this.fd, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  sync(): Promise<void> {
    return fsyncFd(this.fd);
  }

  async close(): Promise<void> {
    await this.sync().catch(() => {});
    fsSync.closeSync(this.fd);
  }
}
