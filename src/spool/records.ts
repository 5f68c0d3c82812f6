/**
 * Small durable records the flusher keeps between runs beside the entries:
 * the MX answer cache, the health of destinations (spool/records/NAME.json).
 * Facts about the network, not about mail: losing one costs a DNS query or
 * a connection attempt, never a message.
 *
 * Written like state files (temp + fsync + rename + directory fsync), so a
 * reader sees the old record or the new one, never a torn one. A record
 * that cannot be parsed is treated as absent (and rewritten by the next
 * write) rather than quarantined: it holds nothing that cannot be learnt
 * again. Only the flusher (holding the instance lock) writes them; status
 * and doctor only read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readWholeFileSync, replaceFileDurable } from './durable-fs.js';
import { recordPath, tmpPath, type RecordName, type Spool } from './paths.js';

export type { RecordName };
export { recordPath };

/** The record's parsed JSON, or null when it is absent or unreadable as JSON. */
export function readRecord(spool: Spool, name: RecordName): unknown {
  let text: string;
  try {
    text = readWholeFileSync(recordPath(spool, name)).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export async function writeRecord(spool: Spool, name: RecordName, value: unknown): Promise<void> {
  const target = recordPath(spool, name);
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = tmpPath(spool, name, `${randomBytes(3).toString('hex')}.record`);
  await replaceFileDurable(temp, target, dir, `${JSON.stringify(value)}\n`);
}
