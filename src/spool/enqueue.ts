/**
 * Enqueue: the one way a message enters the spool.
 *
 * Commit protocol (one fsync round; see docs/spool.md, "Enqueue: the commit
 * protocol"):
 *   1. stream the message into tmp/<id>.<pid>.msg (its CRC-32 computed on
 *      the way)
 *   2. rename it into msg/<bucket>/<id> (a message without its state file
 *      is invisible to every reader: an orphan at worst)
 *   3. write the state into the pending commit
 *      tmp/<id>.<pid>.<boot>.<crc>.commit
 *   4. one fsync round, in parallel: the message, the pending commit,
 *      msg/<bucket> and tmp/ (so the pending name is durable too)
 *   5. link the pending commit to state/<bucket>/<id>.json: the commit
 *   6. after the acknowledgement, gathered over 100 ms: each state/<bucket>
 *      fsynced once (grouped), then the pending names unlinked; a one-shot
 *      process leaves this to repair
 * In a spool opened with `spareFiles` (the listener), the files of 1 and 3
 * are spares (./spare-files.ts) made during the previous enqueue's round
 * when available: the message written into one, the other renamed to the
 * pending commit's name; an enqueue alone in flight makes the next ones
 * while its round runs. Same names, data, fsyncs and order at every step.
 * Callers acknowledge (exit 0, 250) once this function resolves, right
 * after the link. The link adds the entry's name without taking the
 * pending one away, and the pending name goes only once the entry's is
 * durable: a durable name of the envelope exists at every instant, on any
 * file system, journaling or not, and repair (repair.ts) finishes what a
 * crash interrupts. Where link(2) is refused (some FUSE and SMB mounts) the
 * commit is a rename with state/<bucket> fsynced before this resolves.
 * A crash before 5 leaves nothing repair keeps in this boot (never
 * acknowledged: no duplicate); a power cut after 4 leaves a pending commit
 * of an earlier boot, which repair completes if its message is whole. An
 * enqueuer never touches an existing entry. Concurrent enqueues in one
 * process share their directory fsyncs (./fsync-group.ts); a one-shot
 * process opens and fsyncs each directory itself.
 *
 * Exit status and spool agree: every failure comes before the commit's
 * link, and the error path removes the pending commit and the message, so
 * "not queued" is true. If the pending commit cannot be removed (nor the
 * message, without which repair would remove it), repair may still complete
 * it, and the error says so: do not send it again. Step 6 failing keeps the
 * pending name for repair and rejects nothing (the caller was answered).
 */
import fsSync from 'node:fs';
import { newQueueId } from '../model/queue-id.js';
import { newEntryState, serializeEntryState, type EntryKind, type EntryState } from '../model/entry-state.js';
import { checkEnvelopeAddress, normalizeRecipients } from '../model/address.js';
import { BulkmailerError, ExitCode, dataError, fromFsError } from '../errors.js';
import { crashPoint } from './crash-points.js';
import { crc32 } from './crc32.js';
import { fsyncDir, fsyncFd, isNoHardLinksError, removeIfExists, writeAll, writeAllv } from './durable-fs.js';
import { enqueuesInFlight, joinCommitGroup, syncDirGrouped } from './fsync-group.js';
import { bootTag } from './lock-file.js';
import { messageDir, messagePath, pendingCommitPath, stateDir, statePath, tmpPath, type Spool } from './paths.js';
import { createFromSpare, makeSpareFiles, releaseSpareFiles, takeSpareFile } from './spare-files.js';
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
  let tmpMessage = tmpPath(spool, id, 'msg');
  let pending: string | null = null;
  let renamedMessage = false;
  // Set once the entry's name exists (ours, or, EEXIST, someone's): the error path must not remove its message.
  let entryExists = false;
  let messageFd: number | null = null;
  let stateFd: number | null = null;
  // Sharing an fsync with concurrent enqueues, through a kept handle; or, one-shot (Spool.oneShot), a handle of its own.
  const syncDir = spool.oneShot ? fsyncDir : syncDirGrouped;
  try {
    // A spare made during the previous enqueue's round (spare-files.ts): the O_CREAT is off this path.
    const spare = spool.spareFiles ? takeSpareFile(spool) : null;
    if (spare === null) messageFd = fsSync.openSync(tmpMessage, 'wx', 0o600);
    else ({ path: tmpMessage, fd: messageFd } = spare);
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
    pending = pendingCommitPath(spool, id, bootTag(), crc);
    stateFd = spool.spareFiles ? createFromSpare(spool, pending) : fsSync.openSync(pending, 'wx', 0o600);
    writeAll(stateFd, serializeEntryState(state));
    // In parallel on libuv's thread pool, even in a one-shot process: ext4 batches parallel fsyncs
    // into one journal commit, where one after the other on this thread each waits for its own
    // (measured 2.9 against 8.7 ms per enqueue on a busy disk; docs/performance.md). tmp/ is
    // shared by every bucket: grouped, concurrent sessions share its fsync as well.
    // allSettled: no descriptor is closed while an fsync on the pool may still use it (its number
    // could be reused by another open meanwhile, as dir-handles.ts explains).
    const roundDone = Promise.allSettled([fsyncFd(messageFd), fsyncFd(stateFd), syncDir(messageDir(spool, id)), syncDir(spool.tmp)]);
    // The round is a wait on the disk: the next enqueue's files are made meanwhile, on this thread
    // (idle until the round ends). Not beside concurrent enqueues: the main thread is their shared
    // bottleneck, and their rounds are shared already.
    if (spool.spareFiles && enqueuesInFlight() === 1) makeSpareFiles(spool);
    const round = await roundDone;
    // Each forgotten before its close: a close that throws is not tried again by the error path.
    const fds = [messageFd, stateFd];
    messageFd = stateFd = null;
    let closeError: unknown = null;
    for (const fd of fds) {
      try {
        fsSync.closeSync(fd);
      } catch (err) {
        closeError ??= err;
      }
    }
    if (closeError !== null) throw closeError;
    const failed = round.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    crashPoint('enqueue-after-fsync-round');
    const committed = linkEntry(spool, pending, id);
    entryExists = true;
    if (committed === 'renamed') {
      // A file system without hard links: the rename took the pending name away, so the entry's
      // name must be durable before the acknowledgement (the safe two-round order).
      pending = null;
      await syncDir(stateDir(spool, id));
    }
    crashPoint('enqueue-after-commit-link');
    if (committed === 'linked' && !spool.oneShot && pending !== null) finishCommit(spool, id, pending);
    // One-shot (the sendmail command, `bulkmailer enqueue`): the pending name stays for the next
    // flush's repair, which fsyncs state/<bucket> and removes it (docs/spool.md says why).
    return { id, size, state };
  } catch (err) {
    if (messageFd !== null) closeQuietly(messageFd);
    if (stateFd !== null) closeQuietly(stateFd);
    // Nothing half-written stays behind: no state file means no entry.
    removeQuietly(tmpMessage);
    const failure = err instanceof BulkmailerError ? err : fromFsError('cannot enqueue', err);
    if (entryExists) {
      // Only the fsync of state/ failed (a file system without hard links): the entry is there.
      throw new BulkmailerError(failure.code, `${failure.message}; entry ${id} is in the queue but not known to be on disk, and may still be sent`, {
        exitCode: failure.exitCode,
        temporary: failure.temporary,
        cause: err,
      });
    }
    const pendingLeft = pending === null ? null : removeReporting(pending);
    // Not when the link found the entry's name taken (the message's name is that entry's too) or
    // the pending commit gone (a repair may be completing it): the orphan rule decides later.
    const messageLeft = renamedMessage && !(err instanceof LinkRefused) ? removeReporting(messagePath(spool, id)) : null;
    // A pending commit with its message is what repair completes once this process has exited.
    if (pendingLeft === null || messageLeft === null) throw failure;
    throw new BulkmailerError(
      failure.code,
      `${failure.message}; entry ${id} could not be taken back out of the queue (${pendingLeft}) and may still be sent; do not send it again`,
      { exitCode: failure.exitCode, temporary: failure.temporary, cause: err },
    );
  }
}

/** The commit's link found the entry there already, or its pending commit gone: not queued, and the message left alone. */
class LinkRefused extends BulkmailerError {}

/**
 * The commit: the entry's name, a hard link to the pending commit, whose
 * durable name stays until the entry's is durable too (finishCommit).
 * 'renamed' where the file system has no hard links: the pending name is
 * gone then, and the caller must fsync state/<bucket> before it
 * acknowledges. A fresh id's entry cannot exist: EEXIST is an error.
 */
function linkEntry(spool: Spool, pending: string, id: string): 'linked' | 'renamed' {
  const entry = statePath(spool, id);
  try {
    fsSync.linkSync(pending, entry);
    return 'linked';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') {
      throw new LinkRefused('E_IO', `cannot enqueue: entry ${id} exists already (queue ids must be fresh)`, { exitCode: ExitCode.ioErr, temporary: true, cause: err });
    }
    if (code === 'ENOENT') {
      // A repair of another process removed the pending name: after completing it (the entry is
      // there, queued), or as abandoned (not queued: its message is an orphan for a later repair).
      if (fsSync.existsSync(entry)) return 'linked';
      throw new LinkRefused('E_IO', `cannot enqueue: another process's repair removed this enqueue's pending commit (${id}): not queued`, {
        exitCode: ExitCode.ioErr,
        temporary: true,
        cause: err,
      });
    }
    if (!isNoHardLinksError(err)) throw err;
    fsSync.renameSync(pending, entry);
    return 'renamed';
  }
}

/**
 * After the acknowledgement, off its path: state/<bucket> fsynced, then the
 * pending name removed, only once the entry's own name is durable. Not one
 * by one: the commits of the next AFTER_WORK_DELAY_MS are gathered, and each
 * state directory among them is fsynced once (shared with concurrent
 * sessions) before its pending names go. One fsync and one wake-up per
 * commit, run beside the next message's fsync round, cost the listener
 * with one client more than the round this protocol saved (docs/
 * performance.md, "The enqueue's commit in one fsync round"). Waiting
 * costs no safety: until its directory is fsynced the pending name stays,
 * durable, and repair finds one name or the other. A failure keeps the
 * pending names, which the next repair finishes (the entry exists: it
 * fsyncs state/<bucket> and removes them); nothing is logged (a path names
 * a user's queue id, and the caller was answered already) and no rejection
 * is left unhandled.
 */
function finishCommit(spool: Spool, id: string, pending: string): void {
  const dir = stateDir(spool, id);
  const names = awaitingSync.get(dir);
  if (names === undefined) awaitingSync.set(dir, [pending]);
  else names.push(pending);
  if (afterWorkTimer === null) {
    afterWorkTimer = setTimeout(runAfterWork, AFTER_WORK_DELAY_MS);
    // A process that has nothing else to do exits: its pending names are repair's.
    afterWorkTimer.unref();
  }
}

/** How long commits gather before their state directories are fsynced and their pending names removed. */
const AFTER_WORK_DELAY_MS = 100;
/** Pending names by the state directory whose fsync they wait for. */
const awaitingSync = new Map<string, string[]>();
let afterWorkTimer: NodeJS.Timeout | null = null;
const unfinished = new Set<Promise<void>>();

function runAfterWork(): void {
  afterWorkTimer = null;
  const batch = [...awaitingSync];
  awaitingSync.clear();
  for (const [dir, names] of batch) {
    const tracked = syncDirGrouped(dir).then(
      () => names.forEach(unlinkQuietly),
      () => undefined,
    );
    unfinished.add(tracked);
    void tracked.then(() => unfinished.delete(tracked));
  }
}

/**
 * Resolves once every commit of this process has finished its after-work
 * (state/<bucket> fsynced, pending name removed, or left for repair after
 * a failure), starting what still waits for its delay; the spare files
 * (spare-files.ts) are closed and removed first. For a library caller
 * about to exit, the listener's close, and tests.
 */
export async function settleCommits(): Promise<void> {
  releaseSpareFiles();
  if (afterWorkTimer !== null) {
    clearTimeout(afterWorkTimer);
    runAfterWork();
  }
  while (unfinished.size > 0) await Promise.all([...unfinished]);
}

function closeQuietly(fd: number): void {
  try {
    fsSync.closeSync(fd);
  } catch {
    /* already reported by the error being thrown */
  }
}

/**
 * Best effort: what a failed enqueue leaves in tmp/ is repair's to remove
 * otherwise. (Synchronous, like the rest: the sendmail command's start-up
 * snapshot then carries no fs/promises, see docs/performance.md.)
 */
/** One unlink(2), errors left to repair (a pending name that stays is finished by the next one). */
function unlinkQuietly(file: string): void {
  try {
    fsSync.unlinkSync(file);
  } catch {
    /* repair removes it */
  }
}

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
