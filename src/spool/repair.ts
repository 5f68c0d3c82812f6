/**
 * Repair at every flusher start (under the instance lock): the traces of
 * crashes are cleared before delivery begins.
 *
 *  - first, the spool's directories are checked again (spool-dirs.ts): a
 *    symbolic link among them stops the flush (exit 77) before any entry is
 *    read; an untrusted entry lock directory is replaced (a warning)
 *  - tmp/ files of dead writers (or older than a day): unfinished writes,
 *    except enqueues' pending commits that can be completed (below)
 *  - messages without a state file, older than ORPHAN_MIN_AGE_MS: enqueues
 *    that crashed before their commit, never acknowledged
 *  - state files without their message: quarantined (scan does this)
 *  - locks of dead processes (the sweep: lock-names.ts says which files are
 *    locks, lock-file.ts decides whether one is stale)
 *  - transaction journals of batches that did not complete: their
 *    unrecorded transactions' recipients are marked possible duplicates
 *    (journal-recovery.ts)
 *
 * A pending commit (tmp/<id>.<pid>.<crc>.commit, enqueue.ts) whose writer
 * is dead is an enqueue that a crash stopped after or during its fsync
 * round: it may have been acknowledged (the commit's rename is not fsynced,
 * so a power cut can undo it). If its entry exists (the rename happened and
 * both names survived, as on a file system without a journal) it is
 * removed; if it parses as that entry's state and its message is there with
 * the state's size and the CRC-32 in the name, the commit is completed
 * (renamed into state/, the directory fsynced); otherwise it is removed:
 * that enqueue never finished its fsync round, so it was never
 * acknowledged, and its message is an orphan for the rule below. The CRC
 * tells a whole message from one a crash left with its size but unwritten
 * (zeroed) blocks, which ext4 without a journal or with data=writeback can
 * do. This pass runs before the orphans' so that a completed commit's
 * message is not taken for one.
 *
 * A writer is dead when its pid is not alive or when its file was written
 * before this boot (after a reboot the pid may be another process's). The
 * boot time comes from the wall clock and the uptime: a clock stepped
 * forward since boot can make a file a live writer wrote just before the
 * step look older, which costs at worst that writer's enqueue (it finds its
 * pending commit gone and reports failure; the entry, with its message
 * removed by that failure, is quarantined as corrupt).
 *
 * The age limit on orphans matters: an enqueuer in another process may be
 * between its message's rename and its commit right now.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEntryState } from '../model/entry-state.js';
import { allBuckets, isQueueId } from '../model/queue-id.js';
import { crc32 } from './crc32.js';
import { fsyncDir, READ_NOFOLLOW } from './durable-fs.js';
import { isProcessAlive, removeLockIfStale } from './lock-file.js';
import { lockDirectories } from './lock-names.js';
import {
  messageBucketDir,
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
  /** What the flusher should say (an entry lock directory that could not be trusted). */
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

/** When this boot began, by the wall clock (not a caller's `now`, which tests move to age orphans). */
function currentBootTime(): number {
  return Date.now() - os.uptime() * 1000;
}

/** Whether the writer of a tmp/ file is gone: its pid is not alive, or the file is from before this boot. */
function isWriterGone(name: string, mtimeMs: number, bootTime: number): boolean {
  const pid = tmpWriterPid(name);
  return pid === null || !isProcessAlive(pid) || mtimeMs < bootTime;
}

/**
 * How many pending commits in tmp/ have a writer that is gone: enqueues a
 * crash interrupted, invisible until the next flusher's repair completes
 * (or drops) them. For `status`, read-only: one listing of tmp/, a stat per
 * pending commit.
 */
export async function countInterruptedCommits(spool: Spool): Promise<number> {
  const bootTime = currentBootTime();
  let count = 0;
  for (const name of await fs.readdir(spool.tmp).catch(() => [] as string[])) {
    if (parsePendingCommitName(name) === null) continue;
    const stat = await fs.stat(path.join(spool.tmp, name)).catch(() => null);
    if (stat !== null && isWriterGone(name, stat.mtimeMs, bootTime)) count++;
  }
  return count;
}

export async function repairSpool(spool: Spool, now: number = Date.now(), options: RepairOptions = {}): Promise<RepairReport> {
  // The agent opened the spool long ago: what it checked then is checked again now, once per flush.
  const warnings = ensureSpoolDirectories(spool);
  const report: RepairReport = { tmpRemoved: 0, commitsCompleted: [], orphanMessagesRemoved: 0, locksRemoved: 0, interrupted: [], warnings };
  const bootTime = currentBootTime();
  for (const name of await fs.readdir(spool.tmp).catch(() => [] as string[])) {
    const file = path.join(spool.tmp, name);
    const stat = await fs.stat(file).catch(() => null);
    if (stat === null) continue;
    if (!isWriterGone(name, stat.mtimeMs, bootTime) && now - stat.mtimeMs <= TMP_MAX_AGE_MS) continue;
    const pending = parsePendingCommitName(name);
    if (pending !== null && (await completeCommit(spool, file, pending))) {
      report.commitsCompleted.push(pending.id);
      continue;
    }
    await fs.rm(file, { force: true });
    report.tmpRemoved++;
  }
  for (const bucket of allBuckets()) {
    const dir = messageBucketDir(spool, bucket);
    const messages = await fs.readdir(dir).catch(() => [] as string[]);
    if (messages.length === 0) continue;
    // One listing of the bucket's state files, not a stat per message: at 100,000
    // entries those stats kept the first delivery waiting for seconds.
    const states = new Set(await fs.readdir(stateBucketDir(spool, bucket)).catch(() => [] as string[]));
    for (const id of messages) {
      if (!isQueueId(id) || states.has(`${id}.json`)) continue;
      // Not listed: its state may have been committed since the listing; look again.
      const hasState = await fs.stat(statePath(spool, id)).then(() => true, () => false);
      if (hasState) continue;
      const stat = await fs.stat(path.join(dir, id)).catch(() => null);
      if (stat !== null && now - stat.mtimeMs > ORPHAN_MIN_AGE_MS) {
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

/**
 * Completes a pending commit whose writer is dead, if its entry does not
 * exist yet and its state and message are whole; true when it did (false:
 * the caller removes the file).
 */
async function completeCommit(spool: Spool, file: string, pending: PendingCommitName): Promise<boolean> {
  const { id } = pending;
  const committed = statePath(spool, id);
  if (await fs.lstat(committed).then(() => true, () => false)) return false;
  let size: number;
  try {
    size = parseEntryState(await fs.readFile(file, { encoding: 'utf8', flag: READ_NOFOLLOW }), id).size;
  } catch {
    return false; // torn or unreadable: that enqueue never finished its fsync round
  }
  if ((await messageCheck(spool, id, size)) !== pending.crc) return false;
  await fs.rename(file, committed);
  await fsyncDir(stateDir(spool, id));
  return true;
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
