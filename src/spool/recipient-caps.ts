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
import { recipientCapPath, type Spool } from './paths.js';
import { readJsonRecord, writeJsonRecord } from './records.js';

/** The shape every figure a smarthost taught is kept in (this one, and connections at once: connection-caps.ts). */
interface LearntFigure {
  version: 1;
  account: string;
  max: number;
  configured: number;
  learnedAt: string;
  reply: string;
}

/** Validates a learnt figure of `account` read from its file; anything else reads as absent. */
export function validLearntFigure<T extends LearntFigure>(account: string) {
  return (value: unknown): T | null => {
    const r = value as Partial<T> | null;
    if (r === null || typeof r !== 'object') return null;
    if (r.version !== 1 || r.account !== account || !Number.isInteger(r.max) || !Number.isInteger(r.configured)) return null;
    if ((r.max as number) < 1 || typeof r.learnedAt !== 'string' || typeof r.reply !== 'string') return null;
    return r as T;
  };
}

export function readRecipientCap(spool: Spool, account: string): RecipientCapRecord | null {
  return readJsonRecord(recipientCapPath(spool, account), `the recipients per transaction of account ${account}`, validLearntFigure<RecipientCapRecord>(account));
}

export async function writeRecipientCap(spool: Spool, record: RecipientCapRecord): Promise<void> {
  await writeJsonRecord(spool, recipientCapPath(spool, record.account), record, `the recipients per transaction of account ${record.account}`);
}
