/**
 * The figures an account's smarthost taught (src/model/learnt-figure.ts),
 * one record per account and kind: spool/accounts/<account>.<file>.json
 * (.rcpt.json: recipients per transaction, .conn.json: connections at once),
 * beside its hold and send ledger, so a later flush (or the agent) starts
 * from it.
 *
 * Written durably through the record store (records.ts) by the flusher,
 * as one line of JSON in the record's field order. Losing one costs one
 * more refusal ("452 too many recipients", a refused connection), never
 * mail; a file that does not parse, or is not a learnt figure of this
 * account, reads as absent and is rewritten at the next lesson.
 */
import { LEARNT_FIGURES, type LearntFigureKind, type LearntFigureRecord } from '../model/learnt-figure.js';
import { learntFigurePath, type Spool } from './paths.js';
import { readJsonRecord, writeJsonRecord } from './records.js';

/** Validates a learnt figure of `account` read from its file; anything else reads as absent. */
function validLearntFigure(account: string) {
  return (value: unknown): LearntFigureRecord | null => {
    const r = value as Partial<LearntFigureRecord> | null;
    if (r === null || typeof r !== 'object') return null;
    if (r.version !== 1 || r.account !== account || !Number.isInteger(r.max) || !Number.isInteger(r.configured)) return null;
    if ((r.max as number) < 1 || typeof r.learnedAt !== 'string' || typeof r.reply !== 'string') return null;
    return r as LearntFigureRecord;
  };
}

/** "the connections at once of account work": what failures name. */
function whatOf(kind: LearntFigureKind, account: string): string {
  return `the ${LEARNT_FIGURES[kind].what} of account ${account}`;
}

/** The `kind` figure `account`'s smarthost taught, or null when none is kept. Errors other than absence throw (records.ts). */
export function readLearntFigure(spool: Spool, account: string, kind: LearntFigureKind): LearntFigureRecord | null {
  return readJsonRecord(learntFigurePath(spool, account, kind), whatOf(kind, account), validLearntFigure(account));
}

/** Replaces the `kind` figure of `record.account` durably. */
export async function writeLearntFigure(spool: Spool, kind: LearntFigureKind, record: LearntFigureRecord): Promise<void> {
  await writeJsonRecord(spool, learntFigurePath(spool, record.account, kind), record, whatOf(kind, record.account));
}
