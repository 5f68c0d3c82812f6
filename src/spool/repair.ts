/**
 * Repair at every flusher start (under the instance lock): the traces of
 * crashes are cleared before delivery begins.
 *
 *  - first, the spool's directories are checked again (spool-dirs.ts): a
 *    symbolic link among them stops the flush (exit 77) before any entry is
 *    read; an untrusted entry lock directory is replaced (a warning)
 *  - enqueues' pending commits (below), each on its own: one that cannot be
 *    handled (EIO) is a warning in the report and the flush goes on
 *  - other tmp/ files of dead writers (or older than a day): unfinished writes
 *  - messages without a state file whose rename into msg/ is older than
 *    ORPHAN_MIN_AGE_MS (its ctime) and without a pending commit left in
 *    tmp/: enqueues that crashed before their commit, never acknowledged
 *  - state files without their message: quarantined (scan does this)
 *  - locks of dead processes (the sweep: lock-names.ts says which files are
 *    locks, lock-file.ts decides whether one is stale)
 *  - transaction journals of batches that did not complete: their
 *    unrecorded transactions' recipients are marked possible duplicates
 *    (journal-recovery.ts)
 *
 * A pending commit (tmp/<id>.<pid>.<boot>.<crc>.commit, enqueue.ts) is
 * judged by pendingCommitFate, the one rule `status` counts by too:
 *  - its entry exists: the commit's link ran (and may have been
 *    acknowledged) but its writer did not see state/<bucket> fsynced; repair
 *    fsyncs it (once per bucket) and only then removes the pending name, so a
 *    durable name is there at every instant;
 *  - of this boot, its writer alive: an enqueue in progress, left alone
 *    (removed past a day);
 *  - of this boot, its writer dead, no entry: the link never ran, so it was
 *    never acknowledged: removed (its message is an orphan for the rule
 *    above), and a kill -9 does not turn an unacknowledged message into a
 *    queued one;
 *  - of another boot (or one whose boot_id is unknown and whose pid is not
 *    alive): a power cut may have undone an acknowledged link, so it is
 *    completed if whole (it parses as that entry's state, the message has
 *    the state's size and the CRC-32 in the name): the message, msg/<bucket>
 *    and the pending commit are fsynced first (after a crash the page cache
 *    may hold what the disk does not), then linked into state/, state/<bucket>
 *    fsynced, the pending name removed; not whole, it is removed: that
 *    enqueue never finished its fsync round, so it was never acknowledged.
 *    The CRC tells a whole message from one a crash left with its size but
 *    unwritten (zeroed) blocks, as ext4 without a journal can.
 * The boot is the name's, not a time: a clock stepped since boot cannot
 * make a live writer look dead.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseEntryState } from '../model/entry-state.js';
import { allBuckets, isQueueId } from '../model/queue-id.js';
import { crc32 } from './crc32.js';
import { fsyncDir, isNoHardLinksError, READ_NOFOLLOW } from './durable-fs.js';
import { bootTag, isProcessAlive, removeLockIfStale, UNKNOWN_BOOT } from './lock-file.js';
import { lockDirectories } from './lock-names.js';
import {
  messageBucketDir,
  messageDir,
  messagePath,
  parsePendingCommitName,
  stateBucketDir,
  stateDir,
  statePath,
  type PendingCommitName,
  type Spool,
} from './paths.js';
import { recoverJournals, type CrashPolicy, type RecoveredTransaction } from './journal-recovery.js';
import { ensureSpoolDirectories } from './spool-dirs.js';

const ORPHAN_MIN_AGE_MS = 10 * 60_000;
const TMP_MAX_AGE_MS = 24 * 3_600_000;

export interface RepairReport {
  tmpRemoved: number;
  /** Entries whose commit a crash interrupted and repair completed: queued now (and possibly acknowledged before the crash). */
  commitsCompleted: string[];
  orphanMessagesRemoved: number;
  locksRemoved: number;
  /** Transactions a crash interrupted before their outcome was recorded: possible duplicates. */
  interrupted: RecoveredTransaction[];
  /** What the flusher should say (an entry lock directory that could not be trusted, a pending commit it could not handle). */
  warnings: string[];
}

export interface RepairOptions {
  /** What to do with possible duplicates found in a crashed batch's journal (config `onCrash`). */
  onCrash?: CrashPolicy;
  /** false: leave the journals to a later repair that reports what it finds (default true). */
  recoverJournals?: boolean;
}

/** tmp names are <id>.<pid>.<suffix>: the pid tells whether the writer lives. */
function tmpWriterPid(name: string): number | null {
  const pid = Number(name.split('.')[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** What repair does with a pending commit (see the header). */
export type PendingCommitFate = 'finish' | 'leave' | 'remove' | 'complete';

/**
 * The one rule for a pending commit, for repair and `status` alike: read
 * only (an lstat of the entry; the state and message read when another boot
 * wrote it). `ageMs` is how long ago it was written (the day limit).
 */
export async function pendingCommitFate(spool: Spool, file: string, pending: PendingCommitName, ageMs: number): Promise<PendingCommitFate> {
  if (await exists(statePath(spool, pending.id))) return 'finish';
  const alive = isProcessAlive(pending.pid);
  const boot = bootTag();
  if (pending.boot === boot && boot !== UNKNOWN_BOOT) return alive && ageMs <= TMP_MAX_AGE_MS ? 'leave' : 'remove';
  // Without a boot_id the pid is all there is: alive, it is most likely the writer at work.
  if (pending.boot === UNKNOWN_BOOT && boot === UNKNOWN_BOOT && alive && ageMs <= TMP_MAX_AGE_MS) return 'leave';
  return (await isWhole(spool, file, pending)) ? 'complete' : 'remove';
}

/**
 * How many pending commits repair would complete: enqueues a power cut (or
 * a crash of another boot's writer) interrupted after their fsync round,
 * invisible until the next flusher's repair completes them. For `status`,
 * read-only, by repair's own rule (pendingCommitFate).
 */
export async function countInterruptedCommits(spool: Spool, now: number = Date.now()): Promise<number> {
  let count = 0;
  for (const name of await fs.readdir(spool.tmp).catch(() => [] as string[])) {
    const pending = parsePendingCommitName(name);
    if (pending === null) continue;
    const file = path.join(spool.tmp, name);
    const stat = await fs.stat(file).catch(() => null);
    if (stat === null) continue;
    if ((await pendingCommitFate(spool, file, pending, now - stat.mtimeMs).catch(() => null)) === 'complete') count++;
  }
  return count;
}

export async function repairSpool(spool: Spool, now: number = Date.now(), options: RepairOptions = {}): Promise<RepairReport> {
  // The agent opened the spool long ago: what it checked then is checked again now, once per flush.
  const warnings = ensureSpoolDirectories(spool);
  const report: RepairReport = { tmpRemoved: 0, commitsCompleted: [], orphanMessagesRemoved: 0, locksRemoved: 0, interrupted: [], warnings };
  // Ids whose pending commit stays in tmp/ (in progress, or not handled): their messages are not orphans.
  const pendingLeft = new Set<string>();
  const syncedStateDirs = new Set<string>();
  for (const name of await fs.readdir(spool.tmp).catch(() => [] as string[])) {
    const file = path.join(spool.tmp, name);
    const pending = parsePendingCommitName(name);
    try {
      const stat = await fs.stat(file);
      if (pending !== null) {
        const outcome = await repairPendingCommit(spool, file, pending, now - stat.mtimeMs, syncedStateDirs);
        if (outcome === 'leave') pendingLeft.add(pending.id);
        else if (outcome === 'complete') report.commitsCompleted.push(pending.id);
        else report.tmpRemoved++;
        continue;
      }
      const pid = tmpWriterPid(name);
      if (pid !== null && isProcessAlive(pid) && now - stat.mtimeMs <= TMP_MAX_AGE_MS) continue;
      await fs.rm(file, { force: true });
      report.tmpRemoved++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue; // gone meanwhile (its writer finished)
      if (pending !== null) pendingLeft.add(pending.id);
      report.warnings.push(`could not repair tmp/${name} (${code ?? String(err)}); the next flush tries again`);
    }
  }
  for (const bucket of allBuckets()) {
    const dir = messageBucketDir(spool, bucket);
    const messages = await fs.readdir(dir).catch(() => [] as string[]);
    if (messages.length === 0) continue;
    // One listing of the bucket's state files, not a stat per message: at 100,000
    // entries those stats kept the first delivery waiting for seconds.
    const states = new Set(await fs.readdir(stateBucketDir(spool, bucket)).catch(() => [] as string[]));
    for (const id of messages) {
      if (!isQueueId(id) || states.has(`${id}.json`) || pendingLeft.has(id)) continue;
      // Not listed: its state may have been committed since the listing; look again.
      if (await exists(statePath(spool, id))) continue;
      const stat = await fs.stat(path.join(dir, id)).catch(() => null);
      // ctime, not mtime: the rename into msg/ sets it, where mtime is the last write, which a slow
      // sender's last chunk may have made long before (or a stepped clock put in the past).
      if (stat !== null && now - stat.ctimeMs > ORPHAN_MIN_AGE_MS) {
        await fs.rm(path.join(dir, id), { force: true });
        report.orphanMessagesRemoved++;
      }
    }
  }
  report.locksRemoved = await removeDeadLocks(spool);
  // After the dead locks: an entry lock of the crashed flusher must not block the state updates.
  if (options.recoverJournals !== false) report.interrupted = await recoverJournals(spool, options.onCrash ?? 'resend');
  return report;
}

/** Does with one pending commit what its fate says; returns the fate. Fails as the file system does. */
async function repairPendingCommit(
  spool: Spool,
  file: string,
  pending: PendingCommitName,
  ageMs: number,
  syncedStateDirs: Set<string>,
): Promise<PendingCommitFate> {
  const fate = await pendingCommitFate(spool, file, pending, ageMs);
  if (fate === 'leave') return fate;
  if (fate === 'remove') {
    await fs.rm(file, { force: true });
    return fate;
  }
  const { id } = pending;
  if (fate === 'complete') {
    // What the checks read may be the page cache's after a crash: on disk before it becomes visible.
    await fsyncFile(messagePath(spool, id));
    await fsyncDir(messageDir(spool, id));
    await fsyncFile(file);
    await fs.link(file, statePath(spool, id)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      if (!isNoHardLinksError(err)) throw err;
      await fs.rename(file, statePath(spool, id)); // no hard links here: the safe order (fsync below)
    });
  }
  // The entry's name durable before the pending one goes: one fsync per bucket per repair.
  const dir = stateDir(spool, id);
  if (fate === 'complete' || !syncedStateDirs.has(dir)) {
    await fsyncDir(dir);
    syncedStateDirs.add(dir);
  }
  await fs.rm(file, { force: true });
  return fate;
}

/** Whether a pending commit parses as its entry's state and its message is whole (size and CRC-32). */
async function isWhole(spool: Spool, file: string, pending: PendingCommitName): Promise<boolean> {
  let size: number;
  try {
    size = parseEntryState(await fs.readFile(file, { encoding: 'utf8', flag: READ_NOFOLLOW }), pending.id).size;
  } catch {
    return false; // torn or unreadable: that enqueue never finished its fsync round
  }
  return (await messageCheck(spool, pending.id, size)) === pending.crc;
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, READ_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** The CRC-32 of the entry's message if it is `size` bytes long; null if it is not, or cannot be read. */
async function messageCheck(spool: Spool, id: string, size: number): Promise<number | null> {
  const handle = await fs.open(messagePath(spool, id), READ_NOFOLLOW).catch(() => null);
  if (handle === null) return null;
  try {
    const stat = await handle.stat();
    if (!stat.isFile() || stat.size !== size) return null;
    const buffer = Buffer.allocUnsafe(Math.min(size, 256 * 1024));
    let crc = 0;
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - read), read);
      if (bytesRead === 0) return null;
      crc = crc32(buffer.subarray(0, bytesRead), crc);
      read += bytesRead;
    }
    return crc;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/** Removes every lock whose owner is dead; returns how many. */
async function removeDeadLocks(spool: Spool): Promise<number> {
  let removed = 0;
  for (const { dir, isLock } of lockDirectories(spool)) {
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (isLock(name) && removeLockIfStale(path.join(dir, name))) removed++;
    }
  }
  return removed;
}
