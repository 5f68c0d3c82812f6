/**
 * Walking the queue. Ids are listed cheaply (names only, sorted: oldest
 * first); states are read one at a time as the caller iterates, so a
 * 20,000-entry spool is never held in memory at once.
 *
 * One bad entry never stops the rest of the queue:
 *  - corrupt (a state file that fails validation, or a message missing): reported
 *    through onCorrupt and, by a flusher, quarantined in corrupt/;
 *  - unreadable (permission denied, a directory or a symbolic link in the
 *    state file's place, an I/O error on that file): reported through
 *    onUnreadable and skipped, never moved: nothing is wrong with its
 *    content that we know of, and fixing the permission brings it back.
 * Errors of the whole spool (too many open files, the directory unreadable)
 * still throw.
 */
import fs from 'node:fs/promises';
import { allBuckets, isQueueId } from '../model/queue-id.js';
import type { EntryState } from '../model/entry-state.js';
import { BulkmailerError } from '../errors.js';
import { messageExists, quarantineEntry } from './entry-files.js';
import { readEntryState } from './state-store.js';
import { forEachDoneId } from './journal-done-lines.js';
import { stateBucketDir, type Spool } from './paths.js';

/**
 * The entries still queued, as every reader shows them (status, mailq,
 * doctor, the entry arguments of show, hold, retry...): the state files
 * without those a running (or crashed) flush recorded as finished by a
 * `{"done":"<id>"}` line in its journal but has not removed yet
 * (src/spool/finished-entries.ts): their recipients are all final,
 * whatever their state files still say. Sorted: oldest first.
 */
export async function listEntryIds(spool: Spool): Promise<string[]> {
  const ids = await listStateFileIdsIncludingFinished(spool);
  if (ids.length === 0) return ids;
  // A flag per listed id, found by binary search (ids are sorted): no set of the done ids, which a large drain's journal holds by the hundred thousand.
  let finished: Uint8Array | null = null;
  forEachDoneId(spool, (id) => {
    const at = sortedIndexOf(ids, id);
    if (at >= 0) (finished ??= new Uint8Array(ids.length))[at] = 1;
  });
  const flags: Uint8Array | null = finished;
  return flags === null ? ids : ids.filter((_, i) => flags[i] === 0);
}

/**
 * Every state file's id, finished entries included: a finished entry's
 * state file stays until its removal and still says what it said before
 * its last transaction, so a reader listing this would show delivered mail
 * as queued. Only the flusher uses it (src/flush/flush.ts, enforced by
 * test/spool/queued-listing.test.ts): it lists after its own recovery
 * (repairSpool, under the instance lock), which removed every entry a
 * leftover journal's done line names, and before its pass's batches start,
 * so no journal is there to read. Sorted: oldest first.
 */
export async function listStateFileIdsIncludingFinished(spool: Spool): Promise<string[]> {
  const ids: string[] = [];
  for (const bucket of allBuckets()) {
    const names = await fs.readdir(stateBucketDir(spool, bucket)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const id = name.slice(0, -5);
      if (isQueueId(id)) ids.push(id);
    }
  }
  return ids.sort();
}

function sortedIndexOf(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const at = sorted[middle]!;
    if (at === value) return middle;
    if (at < value) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

export interface ScanOptions {
  /** Move bad entries to corrupt/ (a flusher does; a read-only listing only reports). */
  quarantine?: boolean;
  /**
   * Check that the message file exists (default true). The flusher skips it:
   * it reads the message anyway and quarantines the entry if it is missing.
   */
  checkMessage?: boolean;
  onCorrupt?: (id: string, reason: string) => void;
  /** An entry whose state file cannot be read: `error` carries its sysexits code (77 permission or a link, 74 else). */
  onUnreadable?: (id: string, reason: string, error: BulkmailerError) => void;
  /** The state remembers the version of its file read (state-store.ts, ReadOptions). */
  stamp?: boolean;
}

/** errno values that concern one file, not the spool: the entry is skipped, the rest goes on. */
const ENTRY_READ_ERRORS = new Set(['EACCES', 'EPERM', 'EISDIR', 'ELOOP', 'EIO', 'ENXIO']);

/** The errno behind a classified read error, when it is one of one entry's files. */
export function isEntryReadError(err: unknown): err is BulkmailerError {
  const errno = (err as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  return err instanceof BulkmailerError && typeof errno === 'string' && ENTRY_READ_ERRORS.has(errno);
}

/** Reads one entry for a scan: null if it vanished or was bad (and then reported). */
export async function readEntryForScan(spool: Spool, id: string, options: ScanOptions = {}): Promise<EntryState | null> {
  let state: EntryState | null;
  try {
    state = await readEntryState(spool, id, { stamp: options.stamp });
  } catch (err) {
    if (err instanceof BulkmailerError && err.code === 'E_CORRUPT_STATE') {
      await reportCorrupt(spool, id, err.message, options);
      return null;
    }
    if (isEntryReadError(err)) {
      options.onUnreadable?.(id, err.message, err);
      return null;
    }
    throw err;
  }
  if (state === null) return null;
  if (options.checkMessage !== false && !messageExists(spool, id)) {
    // The state may have just been removed by a finishing flush: re-check.
    if ((await readEntryState(spool, id).catch(() => null)) === null) return null;
    await reportCorrupt(spool, id, `message file of ${id} is missing`, options);
    return null;
  }
  return state;
}

async function reportCorrupt(spool: Spool, id: string, reason: string, options: ScanOptions): Promise<void> {
  options.onCorrupt?.(id, reason);
  if (options.quarantine) await quarantineEntry(spool, id, reason);
}

/** The entries still queued (listEntryIds: not those a journal records as finished), one at a time. */
export async function* scanEntries(spool: Spool, options: ScanOptions = {}): AsyncGenerator<EntryState> {
  for (const id of await listEntryIds(spool)) {
    const state = await readEntryForScan(spool, id, options);
    if (state !== null) yield state;
  }
}
