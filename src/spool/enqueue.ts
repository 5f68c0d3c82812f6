/**
 * Enqueue: the one way a message enters the spool.
 *
 * Commit protocol (nullmailer's and qmail's shape, one fsync round; see
 * docs/spool.md, "Enqueue: the commit protocol"):
 *   1. stream the message into tmp/<id>.<pid>.msg (its CRC-32 computed on
 *      the way)
 *   2. rename it into msg/<bucket>/<id> (a message without its state file
 *      is invisible to every reader: an orphan at worst)
 *   3. write the state into the pending commit tmp/<id>.<pid>.<crc>.commit
 *   4. one fsync round, in parallel: the message, the pending commit,
 *      msg/<bucket> and tmp/ (so the pending name is durable too)
 *   5. rename the pending commit into state/<bucket>/<id>.json: the commit
 * Callers acknowledge (exit 0, 250) once this function resolves, right after
 * the rename and without an fsync of state/<bucket>: by then the message and
 * the envelope (the pending commit, its data and its name) are durable, and
 * on a journaling file system the rename is atomic across a crash, so after
 * one either the entry exists or its pending commit does, which repair
 * completes (repair.ts: the pid is dead, the message's size and CRC match).
 * A crash before 2 leaves nothing repair keeps. One in 4, before the
 * acknowledgement, leaves a pending commit that repair completes if its
 * message reached the disk whole (after a kill -9 the kernel has it all):
 * an entry the sender was not told about, a duplicate if it sends again,
 * rather than a loss (qmail's choice). An enqueuer never touches an
 * existing entry. Concurrent enqueues in one process share their directory
 * fsyncs (./fsync-group.ts); a one-shot process opens and fsyncs each
 * directory itself.
 *
 * Exit status and spool agree: every failure comes before the commit's
 * rename, and the error path removes the pending commit and the message, so
 * "not queued" is true. If the pending commit cannot be removed (nor the
 * message, without which repair would remove it), repair may still complete
 * it, and the error says so: do not send it again.
 */
import fsSync from 'node:fs';
import { newQueueId } from '../model/queue-id.js';
import { newEntryState, serializeEntryState, type EntryKind, type EntryState } from '../model/entry-state.js';
import { checkEnvelopeAddress, normalizeRecipients } from '../model/address.js';
import { BulkmailerError, ExitCode, dataError, fromFsError } from '../errors.js';
import { crashPoint } from './crash-points.js';
import { crc32 } from './crc32.js';
import { fsyncDir, fsyncFd, removeIfExists, writeAll, writeAllv } from './durable-fs.js';
import { joinCommitGroup, syncDirGrouped } from './fsync-group.js';
import { messageDir, messagePath, pendingCommitPath, statePath, tmpPath, type Spool } from './paths.js';
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

/** Writes the message to `fd` (not yet fsynced); resolves to its size and CRC-32 (./crc32.ts). */
async function writeMessage(fd: number, source: MessageSource, maxSize: number): Promise<{ size: number; crc: number }> {
  let size = 0;
  let crc = 0;
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
    crc = crc32(bytes, crc);
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
  return { size, crc };
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
  let pending: string | null = null;
  let renamedMessage = false;
  let messageFd: number | null = null;
  let stateFd: number | null = null;
  // Sharing an fsync with concurrent enqueues, through a kept handle; or, one-shot (Spool.oneShot), a handle of its own.
  const syncDir = spool.oneShot ? fsyncDir : syncDirGrouped;
  try {
    messageFd = fsSync.openSync(tmpMessage, 'wx', 0o600);
    const { size, crc } = await writeMessage(messageFd, request.message, request.maxSize ?? Number.POSITIVE_INFINITY);
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
    // Without its state file the message is invisible to every reader (an
    // orphan at worst), so it takes its final name now and everything is
    // made durable in one round.
    fsSync.renameSync(tmpMessage, messagePath(spool, id));
    renamedMessage = true;
    crashPoint('enqueue-after-message-rename');
    pending = pendingCommitPath(spool, id, crc);
    stateFd = fsSync.openSync(pending, 'wx', 0o600);
    writeAll(stateFd, serializeEntryState(state));
    // In parallel on libuv's thread pool, even in a one-shot process: ext4 batches parallel fsyncs
    // into one journal commit, where one after the other on this thread each waits for its own
    // (measured 2.9 against 8.7 ms per enqueue on a busy disk; docs/performance.md). tmp/ is
    // shared by every bucket: grouped, concurrent sessions share its fsync as well.
    await Promise.all([fsyncFd(messageFd), fsyncFd(stateFd), syncDir(messageDir(spool, id)), syncDir(spool.tmp)]);
    fsSync.closeSync(messageFd);
    fsSync.closeSync(stateFd);
    messageFd = stateFd = null;
    crashPoint('enqueue-after-fsync-round');
    // The commit. No fsync of state/<bucket> follows: on a journaling file system the rename is
    // atomic across a crash, and the pending name it replaces is durable, so repair finds one or
    // the other (docs/spool.md). Nothing after this line can fail.
    fsSync.renameSync(pending, statePath(spool, id));
    crashPoint('enqueue-after-commit-rename');
    return { id, size, state };
  } catch (err) {
    if (messageFd !== null) fsSync.closeSync(messageFd);
    if (stateFd !== null) fsSync.closeSync(stateFd);
    // Nothing half-written stays behind: no state file means no entry.
    removeQuietly(tmpMessage);
    const pendingLeft = pending === null ? null : removeReporting(pending);
    const messageLeft = renamedMessage ? removeReporting(messagePath(spool, id)) : null;
    const failure = err instanceof BulkmailerError ? err : fromFsError('cannot enqueue', err);
    // A pending commit with its message is what repair completes once this process has exited.
    if (pendingLeft === null || messageLeft === null) throw failure;
    throw new BulkmailerError(
      failure.code,
      `${failure.message}; entry ${id} could not be taken back out of the queue (${pendingLeft}) and may still be sent; do not send it again`,
      { exitCode: failure.exitCode, temporary: failure.temporary, cause: err },
    );
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

/** Removes `file` if it is there; null when it is gone, else the error's code. */
function removeReporting(file: string): string | null {
  try {
    removeIfExists(file);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
