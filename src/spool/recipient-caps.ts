/**
 * The recipients per transaction an account's smarthost taught us
 * (src/model/recipient-cap.ts): spool/accounts/<account>.rcpt.json, beside
 * its hold and send ledger, so a later flush (or the agent) starts from it.
 *
 * Written durably (temp + fsync + rename + directory fsync) by the flusher.
 * Losing it costs one more "452 too many recipients", never mail; a file
 * that does not parse is treated as absent and rewritten at the next lesson.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fromFsError } from '../errors.js';
import type { RecipientCapRecord } from '../model/recipient-cap.js';
import { accountsDir, recipientCapPath, tmpPath, type Spool } from './paths.js';
import { readWholeFileSync, replaceFileDurable } from './durable-fs.js';

export function readRecipientCap(spool: Spool, account: string): RecipientCapRecord | null {
  let text: string;
  try {
    text = readWholeFileSync(recipientCapPath(spool, account)).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(`cannot read the recipients per transaction of account ${account}`, err);
  }
  try {
    const r = JSON.parse(text) as Partial<RecipientCapRecord>;
    if (r.version !== 1 || r.account !== account || !Number.isInteger(r.max) || !Number.isInteger(r.configured)) return null;
    if ((r.max as number) < 1 || typeof r.learnedAt !== 'string' || typeof r.reply !== 'string') return null;
    return r as RecipientCapRecord;
  } catch {
    return null;
  }
}

export async function writeRecipientCap(spool: Spool, record: RecipientCapRecord): Promise<void> {
  const dir = accountsDir(spool);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temp = tmpPath(spool, `rcpt-${record.account}`, `${randomBytes(3).toString('hex')}.tmp`);
    await replaceFileDurable(temp, recipientCapPath(spool, record.account), dir, JSON.stringify(record) + '\n');
  } catch (err) {
    throw fromFsError(`cannot record the recipients per transaction of account ${record.account}`, err);
  }
}
