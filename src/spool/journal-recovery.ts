/**
 * Recovery of the transaction journals a crashed flusher left behind
 * (transaction-journal.ts), at every flusher start under the instance lock:
 * no batch is running, so every journal there belongs to one that ended
 * without completing.
 *
 * For each line (entry id, recipients, their attempt counts when the
 * transaction began), the entry's recipients that are not final and whose
 * attempts still equal the noted count never had this transaction's outcome
 * recorded: the smarthost may have accepted it. They are marked "possible
 * duplicate" (markInterruptedByCrash), and with `onCrash: hold` the entry is
 * held for review. An entry gone, or recipients moved on, need nothing.
 * An entry named by a done line (its recipients all final, its removal
 * left for later: finished-entries.ts) is removed, and its transaction
 * lines are not read as possible duplicates: they were recorded.
 *
 * Crash safety: each entry is updated durably (updateEntryState) before the
 * journal is removed; a crash in between repeats the recovery, which then
 * finds the attempts moved on and changes nothing; the removals of finished
 * entries are made durable (their state directories fsynced) before the
 * journal goes. A torn last line (a power
 * cut during its write) is skipped: its fdatasync never finished, so its dot
 * was never sent.
 *
 * Memory: each journal is read twice, a chunk at a time, by the journal's
 * one line reader (journal-lines.ts, which `status`'s done-line reader
 * uses too): first for its done lines (the ids kept: what recovery needs
 * before it may judge a transaction line), then for its transaction lines,
 * each judged and let go as it is read. So recovering a large drain's
 * journal costs its done ids, not its size (it was read whole and split:
 * twice its size in memory, at every flusher start after a crash).
 *
 * A journal that cannot be read stops the recovery with an
 * error rather than being removed unread; so does a finished entry that
 * cannot be removed (the error names it and its journal, which stays).
 */
import fs from 'node:fs';
import path from 'node:path';
import { markInterruptedByCrash } from '../model/transitions.js';
import { isQueueId } from '../model/queue-id.js';
import { BulkmailerError, fromFsError } from '../errors.js';
import { updateEntryState } from './state-store.js';
import type { Spool } from './paths.js';
import { fsyncDir } from './durable-fs.js';
import { journalLines, type JournalLine } from './journal-lines.js';
import { readDoneIds } from './journal-done-lines.js';
import type { JournalRecord } from './transaction-journal.js';
import { removeFinishedEntry } from './state-store.js';
import { stateDir } from './paths.js';

/** `onCrash`: resend possible duplicates with the rest (default), or hold their entry for review. */
export type CrashPolicy = 'resend' | 'hold';

export interface RecoveredTransaction {
  id: string;
  recipients: string[];
  held: boolean;
}

export interface RecoveryOptions {
  /** Bytes of a journal read at a time (default 64 KiB; the tests' small ones cut lines at chunk boundaries). */
  chunkBytes?: number;
}

export async function recoverJournals(spool: Spool, policy: CrashPolicy, options: RecoveryOptions = {}): Promise<RecoveredTransaction[]> {
  let names: string[];
  try {
    names = fs.readdirSync(spool.journal).filter((n) => n.endsWith('.jsonl')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromFsError(`cannot read ${spool.journal}`, err);
  }
  const recovered: RecoveredTransaction[] = [];
  for (const name of names) {
    const file = path.join(spool.journal, name);
    // The done lines first (told by their one form, not parsed: journal-done-lines.ts, status's reader):
    // a transaction line before its entry's done line is no possible duplicate.
    const done = new Set<string>();
    try {
      readDoneIds(file, (id) => done.add(id), options.chunkBytes);
    } catch (err) {
      throw fromFsError(`cannot read the transaction journal ${file}`, err);
    }
    const removedIn = new Set<string>();
    for (const id of done) {
      try {
        await removeFinishedEntry(spool, id);
      } catch (err) {
        // The journal stays: the next start tries again.
        throw err instanceof BulkmailerError ? err : fromFsError(`cannot remove ${id}, finished in ${file}`, err);
      }
      removedIn.add(stateDir(spool, id));
    }
    for (const dir of removedIn) await fsyncDir(dir);
    for (const line of readLines(file, options.chunkBytes)) {
      const record = parseRecord(line);
      if (record === null || done.has(record.id)) continue;
      let marked: string[] = [];
      let held = false;
      try {
        await updateEntryState(spool, record.id, (current) => {
          const result = markInterruptedByCrash(current, record.rcpt, Date.parse(record.at), policy === 'hold');
          marked = result.marked;
          held = result.state.held;
          return marked.length === 0 ? null : result.state;
        });
      } catch (err) {
        // An invalid entry is the scan's to quarantine; it must not stop the others' recovery.
        if (err instanceof BulkmailerError && err.code === 'E_CORRUPT_STATE') continue;
        throw err;
      }
      if (marked.length > 0) recovered.push({ id: record.id, recipients: marked, held });
    }
    fs.rmSync(file, { force: true });
  }
  return recovered;
}

/**
 * The lines of one journal (journalLines), a read error said as one of the
 * journal's; an error of the caller's loop (an entry's update) passes as
 * it is, and the file is closed either way.
 */
function* readLines(file: string, chunkBytes: number | undefined): Generator<JournalLine, void, undefined> {
  const lines = journalLines(file, { chunkBytes });
  try {
    for (;;) {
      let next: IteratorResult<JournalLine, void>;
      try {
        next = lines.next();
      } catch (err) {
        throw fromFsError(`cannot read the transaction journal ${file}`, err);
      }
      if (next.done === true) return;
      yield next.value;
    }
  } finally {
    lines.return();
  }
}

/** A transaction line, or null for anything else (a done line; a line torn by a power cut: never durable, so its dot was never sent). */
function parseRecord(line: JournalLine): JournalRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line.bytes.toString('utf8', 0, line.kept));
  } catch {
    return null;
  }
  return isJournalRecord(value) ? value : null;
}

function isJournalRecord(value: unknown): value is JournalRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.id === 'string' &&
    isQueueId(r.id) &&
    typeof r.at === 'string' &&
    !Number.isNaN(Date.parse(r.at)) &&
    Array.isArray(r.rcpt) &&
    r.rcpt.every((x) => Array.isArray(x) && typeof x[0] === 'string' && Number.isInteger(x[1]))
  );
}
