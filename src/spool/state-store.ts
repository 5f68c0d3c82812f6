/**
 * Reading and rewriting an entry's state file, the commit record.
 *
 * Every rewrite is atomic (tmp + fsync + rename + directory fsync), so a
 * reader sees the old state or the new one, never a torn file. Changes from
 * different processes (the flusher after a transaction, `hold` or `retry`
 * from the CLI) go through `updateEntryState`, which holds the entry's
 * short state lock across read-modify-write: no update is lost.
 *
 * Reading once per flush: every state object this module writes, or reads
 * with `stamp`, remembers which version of the file it came from (its
 * stamp: inode, size, times; src/spool/durable-fs.ts). A caller holding such a state can ask
 * whether the file is still that version (`isStateCurrent`, one stat) and
 * hand it to `updateEntryState` as `known`, which then skips the read when
 * the file under the lock is still that version. Anything else (a state
 * without a stamp, a file replaced since, a stat that fails) reads the file.
 * States are treated as immutable: the transitions return new objects.
 */
import { randomBytes } from 'node:crypto';
import { parseEntryState, serializeEntryState, type EntryState } from '../model/entry-state.js';
import { fromFsError } from '../errors.js';
import { lockWithin } from './lock-file.js';
import { entryStateLockPath } from './lock-names.js';
import { stateDir, statePath, tmpPath, type Spool } from './paths.js';
import fs from 'node:fs';
import { fileStamp, readWholeFileStampedSync, readWholeFileSync, replaceFileDurableStamped } from './durable-fs.js';
import { removeEntry } from './entry-files.js';
import type { DirSyncer } from './dir-syncer.js';
import { STATE_LOCK_WAIT_MS } from '../timing.js';


/**
 * The entry's state, or null when the entry does not exist (any more).
 * Throws E_CORRUPT_STATE for a file that fails validation.
 */
export async function readEntryState(spool: Spool, id: string, options: ReadOptions = {}): Promise<EntryState | null> {
  const file = statePath(spool, id);
  let data: Buffer;
  let stamp: string | null = null;
  try {
    if (options.stamp === true) ({ data, stamp } = readWholeFileStampedSync(file));
    else data = readWholeFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(`cannot read state of ${id}`, err);
  }
  const state = parseEntryState(data.toString('utf8'), id);
  if (stamp !== null) stamps.set(state, stamp);
  return state;
}

export interface ReadOptions {
  /**
   * Remember which version of the file the state came from (one fstat more),
   * for isStateCurrent and updateEntryState's `known`: readers that will not
   * reuse the state (status, listings) skip it.
   */
  stamp?: boolean;
}

/** The version of the state file each state object was read from or written as (weak: no state is kept alive). */
const stamps = new WeakMap<EntryState, string>();

/** The stamp of the entry's state file now; null if it is gone or cannot be examined (a read then says why). */
function stampOnDisk(spool: Spool, id: string): string | null {
  try {
    const stat = fs.lstatSync(statePath(spool, id), { bigint: true, throwIfNoEntry: false });
    return stat === undefined || !stat.isFile() ? null : fileStamp(stat);
  } catch {
    return null;
  }
}

/**
 * True when `state` was read from (or written as) the version of its state
 * file that is on disk now: it can be used instead of reading the file
 * again. False for a state of unknown origin, or a file replaced or gone.
 */
export function isStateCurrent(spool: Spool, state: EntryState): boolean {
  const stamp = stamps.get(state);
  return stamp !== undefined && stampOnDisk(spool, state.id) === stamp;
}

/**
 * Durably replaces the entry's state file. Use `updateEntryState` when
 * others may write too. The state object remembers the version written
 * (an fstat of the file just renamed, not a later lstat of its path).
 */
export async function writeEntryState(spool: Spool, state: EntryState): Promise<void> {
  const temp = tmpPath(spool, state.id, `${randomBytes(3).toString('hex')}.state`);
  try {
    stamps.set(state, await replaceFileDurableStamped(temp, statePath(spool, state.id), stateDir(spool, state.id), serializeEntryState(state)));
  } catch (err) {
    throw fromFsError(`cannot write state of ${state.id}`, err);
  }
}

/** Returned by an update's `change` to remove the entry instead of rewriting it. */
export const REMOVE_ENTRY = Symbol('remove entry');

export type EntryChange = EntryState | null | typeof REMOVE_ENTRY;

export interface UpdateOptions {
  /** With REMOVE_ENTRY: the removal joins this group fsync (it records a transaction). */
  syncer?: DirSyncer;
  /**
   * A state of this entry the caller read or wrote earlier: used as the
   * current state, without reading the file, if the file under the lock is
   * still the version it came from (isStateCurrent).
   */
  known?: EntryState;
}

/**
 * Removes the entry under its state lock, whatever its state file says: for
 * an entry recorded as finished elsewhere (its transaction journal's done
 * line, src/spool/finished-entries.ts), so nothing reads the file. The lock
 * keeps a concurrent `hold` or `retry` from writing the state back after
 * the removal. An entry already gone is no error.
 */
export async function removeFinishedEntry(spool: Spool, id: string, options: { syncer?: DirSyncer } = {}): Promise<void> {
  const lock = await lockWithin(entryStateLockPath(spool, id), STATE_LOCK_WAIT_MS, `entry ${id}`);
  try {
    await removeEntry(spool, id, options);
  } finally {
    lock.release();
  }
}

/**
 * Read-modify-write under the entry's state lock. `change` returns the new
 * state, null to leave the file untouched, or REMOVE_ENTRY to remove the
 * entry (under the same lock, so a concurrent `hold` or `retry` can never
 * write a state file back after the removal). `change` may be asynchronous
 * (delete records the deletion durably before returning REMOVE_ENTRY); it
 * is called only when the entry exists. Resolves to the state now on disk
 * (null if the entry is gone or was removed).
 */
export async function updateEntryState(
  spool: Spool,
  id: string,
  change: (current: EntryState) => EntryChange | Promise<EntryChange>,
  options: UpdateOptions = {},
): Promise<EntryState | null> {
  const lock = await lockWithin(entryStateLockPath(spool, id), STATE_LOCK_WAIT_MS, `entry ${id}`);
  try {
    const known = options.known;
    // Read again: stamped only for a caller that reuses states (it passed `known`), who may hand this one back.
    const current =
      known !== undefined && known.id === id && isStateCurrent(spool, known) ? known : await readEntryState(spool, id, { stamp: known !== undefined });
    if (current === null) return null;
    const next = await change(current);
    if (next === null) return current;
    if (next === REMOVE_ENTRY) {
      await removeEntry(spool, id, options);
      return null;
    }
    await writeEntryState(spool, next);
    return next;
  } finally {
    lock.release();
  }
}
