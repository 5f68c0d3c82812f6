/**
 * The done lines of the transaction journals (`{"done":"<id>"}`:
 * finished-entries.ts), read for the queue's readers (`status`, `mailq`,
 * the entry arguments of show, hold, ...) in memory that does not grow
 * with the journals.
 *
 * Why not parse the journal: a large drain's journal holds a line per
 * transaction and one per finished entry (26 MB for 100,000 entries of
 * five recipients); reading it whole and parsing every line cost `status`
 * about its size in memory, where docs/cli.md promises a big queue's
 * status the memory of a small one. A done line has one fixed form
 * (doneLine: `{"done":"<id>"}`, the id of fixed length).
 *
 * The lines are read by journalLines (journal-lines.ts), recovery's
 * reader too: one definition of a line (its newline, its first NUL, a last
 * line without a newline), each journal read a chunk at a time and only
 * the first bytes of each line kept, enough to tell a done line;
 * transaction lines are never decoded.
 *
 * Failures: a journal that vanished (its batch ended) is skipped, and a
 * missing journal directory means no batch. Any other error reading the
 * directory or a journal (EIO, EACCES, something not a file in a
 * journal's place) throws, a BulkmailerError naming the file (fromFsError:
 * 74 for I/O, 77 for permissions). Why fail rather than warn: skipping it
 * would list the entries its done lines record as still queued, so
 * `status` and `mailq` would show delivered mail as waiting and `hold` or
 * `retry` by id would accept and rewrite finished entries; a listing the
 * user cannot trust is worse than none, and the cause (a failing disk, a
 * permission changed by hand) needs their attention anyway. `doctor` turns
 * the error into its failed check "every queued entry readable", naming
 * the journal. Recovery (journal-recovery.ts) reads each leftover
 * journal's done lines with readDoneIds too, and says a read error as its
 * own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromFsError } from '../errors.js';
import { QUEUE_ID_LENGTH, isQueueId } from '../model/queue-id.js';
import { journalLines } from './journal-lines.js';
import type { Spool } from './paths.js';

const PREFIX_TEXT = '{"done":"';
const SUFFIX_TEXT = '"}';
const PREFIX = Buffer.from(PREFIX_TEXT);
const SUFFIX = Buffer.from(SUFFIX_TEXT);
/** The content of a done line, without its newline. */
const DONE_LINE_LENGTH = PREFIX.length + QUEUE_ID_LENGTH + SUFFIX.length;

/**
 * The done line of a queue id, newline included: the one form this
 * module reads (TransactionJournal.finish writes it), valid JSON for
 * recovery's parser, `{"done":"<id>"}`.
 */
export function doneLine(id: string): Buffer {
  return Buffer.from(`${PREFIX_TEXT}${id}${SUFFIX_TEXT}\n`, 'latin1');
}

/** Calls `onDone` with each id a journal of the spool names in a done line (an id may come more than once). */
export function forEachDoneId(spool: Spool, onDone: (id: string) => void): void {
  let names: string[];
  try {
    names = fs.readdirSync(spool.journal).filter((n) => n.endsWith('.jsonl'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no journal directory: no batch
    throw fromFsError(`cannot read the journal directory ${spool.journal}, whose done lines say which entries are finished`, err);
  }
  for (const name of names) {
    const file = path.join(spool.journal, name);
    try {
      readDoneIds(file, onDone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile: its batch ended, its entries with it
      throw fromFsError(`cannot read the journal ${file}, whose done lines say which entries are finished`, err);
    }
  }
}

/** Whether a journal of the spool names the entry in a done line (finished: its removal still to come). */
export function isFinishedEntry(spool: Spool, id: string): boolean {
  let found = false;
  forEachDoneId(spool, (done) => (found ||= done === id));
  return found;
}

/** Calls `onDone` with the id of each done line of one journal file, reading it a chunk at a time (`chunkBytes`: the tests' small ones). */
export function readDoneIds(file: string, onDone: (id: string) => void, chunkBytes?: number): void {
  for (const line of journalLines(file, { chunkBytes, keep: DONE_LINE_LENGTH })) {
    if (line.length !== DONE_LINE_LENGTH) continue;
    const id = doneId(line.bytes);
    if (id !== null) onDone(id);
  }
}

/** The id of a done line's first DONE_LINE_LENGTH bytes, or null if they are not one. */
function doneId(head: Buffer): string | null {
  if (head.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return null;
  const idEnd = PREFIX.length + QUEUE_ID_LENGTH;
  if (head.compare(SUFFIX, 0, SUFFIX.length, idEnd, idEnd + SUFFIX.length) !== 0) return null;
  const id = head.toString('latin1', PREFIX.length, idEnd);
  return isQueueId(id) ? id : null;
}
