/**
 * Repair at every flusher start (under the instance lock): the traces of
 * crashes are cleared before delivery begins.
 *
 *  - first, the spool's directories are checked again (spool-dirs.ts): a
 *    symbolic link among them stops the flush (exit 77) before any entry is
 *    read; an untrusted entry lock directory is replaced (a warning)
 *  - tmp/ files of dead writers (or older than a day): unfinished writes
 *  - messages without a state file, older than ORPHAN_MIN_AGE_MS: enqueues
 *    that crashed before their commit, never acknowledged
 *  - state files without their message: quarantined (scan does this)
 *  - locks of dead processes (the sweep: lock-names.ts says which files are
 *    locks, lock-file.ts decides whether one is stale)
 *  - transaction journals of batches that did not complete: their
 *    unrecorded transactions' recipients are marked possible duplicates
 *    (journal-recovery.ts)
 *
 * The age limit on orphans matters: an enqueuer in another process may be
 * between its two renames right now.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { allBuckets, isQueueId } from '../model/queue-id.js';
import { isProcessAlive, removeLockIfStale } from './lock-file.js';
import { lockDirectories } from './lock-names.js';
import { messageBucketDir, stateBucketDir, statePath, type Spool } from './paths.js';
import { recoverJournals, type CrashPolicy, type RecoveredTransaction } from './journal-recovery.js';
import { ensureSpoolDirectories } from './spool-dirs.js';

const ORPHAN_MIN_AGE_MS = 10 * 60_000;
const TMP_MAX_AGE_MS = 24 * 3_600_000;

export interface RepairReport {
  tmpRemoved: number;
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

export async function repairSpool(spool: Spool, now: number = Date.now(), options: RepairOptions = {}): Promise<RepairReport> {
  // The agent opened the spool long ago: what it checked then is checked again now, once per flush.
  const warnings = ensureSpoolDirectories(spool);
  const report: RepairReport = { tmpRemoved: 0, orphanMessagesRemoved: 0, locksRemoved: 0, interrupted: [], warnings };
  for (const name of await fs.readdir(spool.tmp).catch(() => [] as string[])) {
    const file = path.join(spool.tmp, name);
    const stat = await fs.stat(file).catch(() => null);
    if (stat === null) continue;
    const pid = tmpWriterPid(name);
    const dead = pid === null || !isProcessAlive(pid);
    if (dead || now - stat.mtimeMs > TMP_MAX_AGE_MS) {
      await fs.rm(file, { force: true });
      report.tmpRemoved++;
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
