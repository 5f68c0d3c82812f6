/**
 * The recipients per transaction an account's smarthost taught us
 * (src/model/recipient-cap.ts): spool/accounts/<account>.rcpt.json, beside
 * its hold and send ledger, so a later flush (or the agent) starts from it.
 *
 * Written durably through the record store (records.ts) by the flusher.
 * Losing it costs one more "452 too many recipients", never mail; a file
 * that does not parse is treated as absent and rewritten at the next lesson.
 */
import type { RecipientCapRecord } from '../model/recipient-cap.js';
import type { LearntFigureRecord } from '../model/learnt-figure.js';
import { recipientCapPath, type Spool } from './paths.js';
import { readJsonRecord, writeJsonRecord } from './records.js';

/** Validates a learnt figure of `account` read from its file (this one, and connections at once: connection-caps.ts); anything else reads as absent. */
export function validLearntFigure(account: string) {
  return (value: unknown): LearntFigureRecord | null => {
    const r = value as Partial<LearntFigureRecord> | null;
    if (r === null || typeof r !== 'object') return null;
    if (r.version !== 1 || r.account !== account || !Number.isInteger(r.max) || !Number.isInteger(r.configured)) return null;
    if ((r.max as number) < 1 || typeof r.learnedAt !== 'string' || typeof r.reply !== 'string') return null;
    return r as LearntFigureRecord;
  };
}

export function readRecipientCap(spool: Spool, account: string): RecipientCapRecord | null {
  return readJsonRecord(recipientCapPath(spool, account), `the recipients per transaction of account ${account}`, validLearntFigure(account));
}

export async function writeRecipientCap(spool: Spool, record: RecipientCapRecord): Promise<void> {
  await writeJsonRecord(spool, recipientCapPath(spool, record.account), record, `the recipients per transaction of account ${record.account}`);
}
