/**
 * The connections at once an account's smarthost taught us
 * (src/model/connection-cap.ts): spool/accounts/<account>.conn.json, beside
 * its recipients per transaction (.rcpt.json), so a later flush (or the
 * agent) starts from it.
 *
 * Written durably through the record store (records.ts) by the flusher.
 * Losing it costs one more refused connection, never mail; a file that
 * does not parse is treated as absent and rewritten at the next lesson.
 */
import type { ConnectionCapRecord } from '../model/connection-cap.js';
import { connectionCapPath, type Spool } from './paths.js';
import { readJsonRecord, writeJsonRecord } from './records.js';
import { validLearntFigure } from './recipient-caps.js';

export function readConnectionCap(spool: Spool, account: string): ConnectionCapRecord | null {
  return readJsonRecord(connectionCapPath(spool, account), `the connections at once of account ${account}`, validLearntFigure(account));
}

export async function writeConnectionCap(spool: Spool, record: ConnectionCapRecord): Promise<void> {
  await writeJsonRecord(spool, connectionCapPath(spool, record.account), record, `the connections at once of account ${record.account}`);
}
