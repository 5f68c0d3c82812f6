/**
 * Enqueue: the one way a message enters the spool.
 *
 * Commit protocol (nullmailer's and qmail's, see docs/spool.md):
 *   1. stream the message into tmp/<id>.<pid>.msg
 *   2. write the state into tmp/<id>.<pid>.json
 *   3. rename the message into msg/<bucket>/<id>; fsync the message, the
 *      state and msg/<bucket> (all three in parallel)
 *   4. rename the state into state/<bucket>/<id>.json, fsync that directory
 * The state file appearing in state/ is the commit, and it is renamed only
 * once the message and its name are durable. A crash before 4 leaves at
 * most an orphan message that repair removes (it was never acknowledged);
 * after 4, the entry exists. Callers acknowledge (exit 0, 250) only after
 * this function resolves. An enqueuer never touches an existing entry.
 *
 * Two rounds of fsyncs, not three: the message is renamed before its fsync
 * because a message without a state file is not an entry. Concurrent
 * enqueues in one process share their directory fsyncs
 * (./fsync-group.ts).
 *
 * Exit status and spool agree: a failure before the state's rename leaves
 * no entry; a failure after it (the state directory's fsync: EIO) takes the
 * entry back out (both files unlinked, under its busy lock so no flusher is
 * delivering it) and the error says so. The caller was told "not queued",
 * so nothing may be sent: a caller that retries must not send twice.
 */
import fsSync from 'node:fs';
import { newQueueId } from '../model/queue-id.js';
import { newEntryState, serializeEntryState, type EntryKind, type EntryState } from '../model/entry-state.js';
import { checkEnvelopeAddress, normalizeRecipients } from '../model/address.js';
import { BulkmailerError, ExitCode, dataError, fromFsError } from '../errors.js';
import { crashPoint } from './crash-points.js';
import { fsyncDir, fsyncFd, writeAll, writeAllv } from './durable-fs.js';
import { prepareEntryLockDir } from './entry-lock-dir.js';
import { joinCommitGroup, syncDirGrouped } from './fsync-group.js';
import { tryLock } from './lock-file.js';
import { entryBusyLockPath } from './lock-names.js';
import { messageDir, messagePath, stateDir, statePath, tmpPath, type Spool } from './paths.js';
import { ensureBucketDirectories } from './spool-dirs.js';

/**
 * The message. An iterable's chunks are kept by reference until the message
 * is written (header fields are views into them, small chunks are gathered
 * into one write): each must be a fresh buffer, never one refilled later.
 */
export type MessageSource = string | Uint8Array | AsyncIterable<Uint8Array | string>;

export interface EnqueueRequest {
  /** Envelope sender; '' is the null sender. */
  from: string;
  recipients: readonly string[];
  message: MessageSource;
  subject?: string | null;
  messageId?: string | null;
  kind?: EntryKind;
  held?: boolean;
  /** Refuse (E_TOO_BIG, exit 65) once the message grows past this many bytes. */
  maxSize?: number;
  now?: number;
  /**
   * The process queues this one message and exits (the sendmail command,
   * `bulkmailer enqueue`): each directory is opened, fsynced and closed.
   * Kept handles (./dir-handles.ts) pay off from the second enqueue on,
   * which never comes here, and their idle timer would be the process's
   * first setTimeout (~0.4 ms, docs/performance.md). Same fsyncs, same
   * order, same durability before this resolves.
   */
  oneShot?: boolean;
}

export interface EnqueueResult {
  id: string;
  size: number;
  state: EntryState;
}

/**
 * Chunks smaller than this are gathered and written with one writev: a
 * small message arrives as a header, a separator and a body chunk or two,
 * which were 3-4 write(2) calls each. At most this much more of a message
 * is held in memory than before.
 */
const GATHER_BYTES = 16 * 1024;

/** Writes the message to `fd` (not yet fsynced); resolves to its size. */
async function writeMessage(fd: number, source: MessageSource, maxSize: number): Promise<number> {
  let size = 0;
  let gathered: Uint8Array[] = [];
  let gatheredBytes = 0;
  const flush = () => {
    if (gathered.length === 1) writeAll(fd, gathered[0]!);
    else if (gathered.length > 1) writeAllv(fd, gathered, gatheredBytes);
    gathered = [];
    gatheredBytes = 0;
  };
  const put = (chunk: Uint8Array | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.byteLength;
    if (size > maxSize) throw tooBig(maxSize);
    if (gatheredBytes + bytes.byteLength > GATHER_BYTES) flush();
    if (bytes.byteLength >= GATHER_BYTES) writeAll(fd, bytes);
    else {
      gathered.push(bytes);
      gatheredBytes += bytes.byteLength;
    }
  };
  if (typeof source === 'string' || source instanceof Uint8Array) put(source);
  else for await (const chunk of source) put(chunk);
  flush();
  return size;
}

function tooBig(maxSize: number): BulkmailerError {
  return new BulkmailerError('E_TOO_BIG', `message exceeds the size limit of ${maxSize} bytes`, {
    exitCode: ExitCode.dataErr,
  });
}

export async function enqueueMessage(spool: Spool, request: EnqueueRequest): Promise<EnqueueResult> {
  const from = request.from === '' ? '' : checkEnvelopeAddress(request.from, 'sender');
  const recipients = normalizeRecipients(request.recipients);
  const now = request.now ?? Date.now();
  const member = joinCommitGroup();
  try {
    // The directories this entry goes into are real ones of ours (checked once per process).
    try {
      ensureBucketDirectories(spool, member.bucket);
    } catch (err) {
      if (err instanceof BulkmailerError) throw err;
      throw fromFsError('cannot enqueue', err);
    }
    return await commitEntry(spool, request, from, recipients, now, newQueueId(now, member.bucket));
  } finally {
    member.leave();
  }
}

async function commitEntry(
  spool: Spool,
  request: EnqueueRequest,
  from: string,
  recipients: readonly string[],
  now: number,
  id: string,
): Promise<EnqueueResult> {
  const tmpMessage = tmpPath(spool, id, 'msg');
  const tmpState = tmpPath(spool, id, 'json');
  let renamedMessage = false;
  let renamedState = false;
  let messageFd: number | null = null;
  let stateFd: number | null = null;
  // Sharing an fsync with concurrent enqueues, through a kept handle; or, one-shot, a handle of its own.
  const syncDir = request.oneShot ? fsyncDir : syncDirGrouped;
  try {
    messageFd = fsSync.openSync(tmpMessage, 'wx', 0o600);
    const size = await writeMessage(messageFd, request.message, request.maxSize ?? Number.POSITIVE_INFINITY);
    if (size === 0) throw dataError('empty message', 'E_EMPTY_MESSAGE');
    const state = newEntryState({
      id,
      from,
      recipients,
      now,
      size,
      ...(request.kind === undefined ? {} : { kind: request.kind }),
      subject: request.subject ?? null,
      messageId: request.messageId ?? null,
      held: request.held ?? false,
    });
    stateFd = fsSync.openSync(tmpState, 'wx', 0o600);
    writeAll(stateFd, serializeEntryState(state));
    // Without its state file the message is invisible to every reader (an
    // orphan at worst), so it takes its final name now and the two files'
    // fsyncs and its directory's run together.
    fsSync.renameSync(tmpMessage, messagePath(spool, id));
    renamedMessage = true;
    crashPoint('enqueue-after-message-rename');
    // In parallel on libuv's thread pool, even in a one-shot process: ext4 batches parallel fsyncs
    // into one journal commit, where one after the other on this thread each waits for its own
    // (measured 2.9 against 8.7 ms per enqueue on a busy disk; docs/performance.md).
    await Promise.all([fsyncFd(messageFd), fsyncFd(stateFd), syncDir(messageDir(spool, id))]);
    fsSync.closeSync(messageFd);
    fsSync.closeSync(stateFd);
    messageFd = stateFd = null;
    crashPoint('enqueue-after-message-fsync');
    fsSync.renameSync(tmpState, statePath(spool, id));
    renamedState = true;
    await syncDir(stateDir(spool, id));
    crashPoint('enqueue-after-state-rename');
    return { id, size, state };
  } catch (err) {
    if (messageFd !== null) fsSync.closeSync(messageFd);
    if (stateFd !== null) fsSync.closeSync(stateFd);
    // Nothing half-written stays behind: no state file means no entry.
    removeQuietly(tmpMessage);
    removeQuietly(tmpState);
    if (renamedState) {
      const failure = err instanceof BulkmailerError ? err : fromFsError('cannot enqueue: the queue could not be made durable', err);
      throw new BulkmailerError(failure.code, `${failure.message}; ${takeBack(spool, id)}`, {
        exitCode: failure.exitCode,
        temporary: failure.temporary,
        cause: err,
      });
    }
    if (renamedMessage) removeQuietly(messagePath(spool, id));
    if (err instanceof BulkmailerError) throw err;
    throw fromFsError('cannot enqueue', err);
  }
}

/**
 * Best effort: what a failed enqueue leaves in tmp/ is repair's to remove
 * otherwise. (Synchronous, like the rest: the sendmail command's start-up
 * snapshot then carries no fs/promises, see docs/performance.md.)
 */
function removeQuietly(file: string): void {
  try {
    fsSync.rmSync(file, { force: true });
  } catch {
    /* repair removes it */
  }
}

/**
 * Removes an entry whose commit could not be made durable; says what
 * happened, in words for the error message. Under the entry's busy lock: a
 * flusher that found the entry in the moment since its rename and is
 * delivering it keeps it (and the message says so). The removal is not
 * fsynced: the directory's fsync has just failed, and without a power cut
 * the kernel keeps the unlink.
 */
function takeBack(spool: Spool, id: string): string {
  let busy: ReturnType<typeof tryLock>;
  try {
    // An enqueue-only open left the entry lock directory unchecked (spool-dirs.ts).
    prepareEntryLockDir(spool);
    busy = tryLock(entryBusyLockPath(spool, id));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return `entry ${id} could not be taken back out of the queue (its lock: ${code}) and may still be delivered; do not send it again`;
  }
  if (!busy.acquired) {
    const pid = busy.owner?.pid;
    return `entry ${id} stays queued: a flusher${pid === undefined ? '' : ` (pid ${pid})`} is delivering it already; do not send it again`;
  }
  try {
    fsSync.rmSync(statePath(spool, id), { force: true });
    fsSync.rmSync(messagePath(spool, id), { force: true });
    return `entry ${id} was taken back out of the queue: nothing will be sent`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    return `entry ${id} could not be taken back out of the queue (${code}) and may still be delivered; do not send it again`;
  } finally {
    busy.lock.release();
  }
}
