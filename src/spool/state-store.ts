/**
 * Reading and rewriting an entry's state file, the commit record.
 *
 * Every rewrite is atomic (tmp + fsync + rename + directory fsync), so a
 * reader sees the old state or the new one, never a torn file. Changes from
 * different processes (the flusher after a transaction, `hold` or `retry`
 * from the CLI) go through `updateEntryState`, which holds the entry's
 * short state lock across read-modify-write: no update is lost.
 */
import { randomBytes } from 'node:crypto';
import { parseEntryState, serializeEntryState, type EntryState } from '../model/entry-state.js';
import { fromFsError } from '../errors.js';
import { lockWithin } from './lock-file.js';
import { entryStateLockPath } from './lock-names.js';
import { stateDir, statePath, tmpPath, type Spool } from './paths.js';
import { readWholeFileSync, replaceFileDurable } from './durable-fs.js';
import { removeEntry } from './entry-files.js';
import type { DirSyncer } from './dir-syncer.js';
import { STATE_LOCK_WAIT_MS } from '../timing.js';


/**
 * The entry's state, or null when the entry does not exist (any more).
 * Throws E_CORRUPT_STATE for a file that fails validation.
 */
export async function readEntryState(spool: Spool, id: string): Promise<EntryState | null> {
  let text: string;
  try {
    text = readWholeFileSync(statePath(spool, id)).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(`cannot read state of ${id}`, err);
  }
  return parseEntryState(text, id);
}

/** Durably replaces the entry's state file. Use `updateEntryState` when others may write too. */
export async function writeEntryState(spool: Spool, state: EntryState): Promise<void> {
  const temp = tmpPath(spool, state.id, `${randomBytes(3).toString('hex')}.state`);
  try {
    await replaceFileDurable(temp, statePath(spool, state.id), stateDir(spool, state.id), serializeEntryState(state));
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
    const current = await readEntryState(spool, id);
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
