/**
 * The end of an entry's life: removal once every recipient is final, or
 * quarantine in corrupt/ when it cannot be trusted. Never a silent delete.
 */
import fs from 'node:fs/promises';
import { closeSync, createReadStream, existsSync, openSync, type ReadStream } from 'node:fs';
import { READ_NOFOLLOW, fsyncDir } from './durable-fs.js';
import type { DirSyncer } from './dir-syncer.js';
import { corruptPath, messagePath, stateDir, statePath, type Spool } from './paths.js';

/**
 * Removes an entry. The state file goes first: that is the commit of the
 * removal. A crash after it leaves an orphan message, which repair deletes;
 * the reverse order could leave a state without its message.
 *
 * `syncer` is given when the removal records a transaction's outcome (a
 * finished entry: its journal's done line recorded it, or, the journal
 * having failed, the removal itself does; src/spool/finished-entries.ts),
 * not a final state write that would be deleted a moment later: the state
 * directory joins the next group fsync (src/spool/dir-syncer.ts). Removing an
 * entry whose final state is already on disk needs no fsync at all: if that
 * removal is lost, the next flush finds the entry complete and removes it.
 */
export async function removeEntry(spool: Spool, id: string, options: { syncer?: DirSyncer } = {}): Promise<void> {
  // Asynchronous on purpose (unlike the spool's other small operations):
  // freeing a file's blocks costs ext4 ~70 us, which on the thread pool
  // overlaps with other transactions instead of stalling them all.
  await unlinkIfExists(statePath(spool, id));
  options.syncer?.markDirty(stateDir(spool, id));
  await unlinkIfExists(messagePath(spool, id));
}

async function unlinkIfExists(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Moves whatever exists of an entry into corrupt/ with a note saying why,
 * so the rest of the queue goes on and a human can look later.
 */
export async function quarantineEntry(spool: Spool, id: string, reason: string): Promise<void> {
  const stamp = `${id}.${Date.now()}`;
  await fs.writeFile(corruptPath(spool, stamp, 'reason.txt'), `${new Date().toISOString()} ${reason}\n`, {
    mode: 0o600,
  });
  await fs.rename(messagePath(spool, id), corruptPath(spool, stamp, 'msg')).catch(ignoreMissing);
  await fs.rename(statePath(spool, id), corruptPath(spool, stamp, 'json')).catch(ignoreMissing);
  await fsyncDir(stateDir(spool, id));
  await fsyncDir(spool.corrupt);
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

export function messageExists(spool: Spool, id: string): boolean {
  return existsSync(messagePath(spool, id));
}

/** Opens and closes the message: throws as reading it would (ENOENT, ELOOP for a link, EACCES). */
export function checkMessageOpens(spool: Spool, id: string): void {
  closeSync(openSync(messagePath(spool, id), READ_NOFOLLOW));
}

/** The first 64 KiB of the message (its header, for a DSN of a large message), never through a symbolic link. */
export async function readMessageHead(spool: Spool, id: string): Promise<Buffer> {
  const handle = await fs.open(messagePath(spool, id), READ_NOFOLLOW);
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The message's bytes as a stream (large messages), never through a symbolic link; the stream closes the file. */
export function messageStream(spool: Spool, id: string): ReadStream {
  return createReadStream(messagePath(spool, id), { fd: openSync(messagePath(spool, id), READ_NOFOLLOW) });
}
