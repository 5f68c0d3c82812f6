/**
 * Spare files: the next enqueue's two empty temp files, made while this
 * one waits for its fsync round (enqueue.ts, step 4), for a process that
 * enqueues one message after another (the listener: a spool opened with
 * `spareFiles`, paths.ts).
 *
 * Why: with one client the listener's time per message is a chain, and
 * creating the message's and the pending commit's files was a link of it
 * (open(O_CREAT) on ext4 without a journal scans every inode its group
 * freed in the last ~30 s: 0.1 to 0.7 ms for the two here, after a spool was
 * deleted). During the fsync round the main thread has nothing to do; the
 * creation moves there, and the next enqueue writes its message into one
 * spare and renames the other to its pending commit's name (one rename
 * more than an open, about 15 us). Figures: docs/performance.md, "Spare
 * files made during the fsync round".
 *
 * What survives a crash: spares are named tmp/spare-<n>.<pid>.spare, so
 * repair's rule for tmp/ (remove a dead writer's file, or any older than a
 * day) removes what a killed process left: empty files, or the one taken
 * for a message partly written (a kill while it streams in). A live
 * process drops a spare older than SPARE_MAX_AGE_MS (far below that day) or
 * one whose name is gone (nlink 0: removed under it) instead of using it,
 * so a stock that sat through a long idle spell is never written to a name
 * that repair took away.
 *
 * How it fails: making spares never fails: one that cannot be made (a full
 * disk, too many open files) is simply not there, and the next enqueue
 * creates its own files as before, where the error is reported. The
 * pending commit's spare (createFromSpare) falls back too: one that cannot
 * be renamed is closed and its file removed, and the caller creates its
 * own. The message's spare (takeSpareFile) has no fallback: it is checked
 * (nlink) when the enqueue starts but renamed into msg/ only after the
 * whole DATA has streamed, so a name removed meanwhile fails that rename
 * and the enqueue (451/452, nothing stored). Only another process's repair
 * removes it, a day after a live writer made it (a spare is used within
 * SPARE_MAX_AGE_MS): unreachable in practice.
 */
import fsSync from 'node:fs';
import { tmpPath, type Spool } from './paths.js';

/** One message and one pending commit: what the next enqueue creates. */
const STOCK_SIZE = 2;
/** Repair removes a live writer's tmp/ file past a day (repair.ts): a spare is used well before. */
const SPARE_MAX_AGE_MS = 3_600_000;

interface SpareFile {
  path: string;
  fd: number;
  madeAt: number;
}

/** Spares by spool (its tmp/ directory): a process may have several spools open, and a spare serves only its own. */
const stocks = new Map<string, SpareFile[]>();
let made = 0;

/** The path of a spare file of this process (tmpPath: the pid tells repair whether its writer lives). */
function spareName(spool: Spool): string {
  return tmpPath(spool, `spare-${(made++).toString(36)}`, 'spare');
}

/**
 * Makes spares up to the stock's size. Called while the caller's fsyncs
 * run on the thread pool; synchronous, errors swallowed (see the header).
 */
export function makeSpareFiles(spool: Spool, now: number = Date.now()): void {
  let stock = stocks.get(spool.tmp);
  if (stock === undefined) stocks.set(spool.tmp, (stock = []));
  while (stock.length < STOCK_SIZE) {
    const file = spareName(spool);
    let fd: number;
    try {
      fd = fsSync.openSync(file, 'wx', 0o600);
    } catch {
      return;
    }
    stock.push({ path: file, fd, madeAt: now });
  }
}

/**
 * A spare of this spool, fresh and still named, for the caller to write
 * into (it owns the descriptor and the file from here on); null when there
 * is none. Stale ones met on the way are dropped.
 */
export function takeSpareFile(spool: Spool, now: number = Date.now()): { path: string; fd: number } | null {
  const stock = stocks.get(spool.tmp);
  for (let spare = stock?.shift(); spare !== undefined; spare = stock!.shift()) {
    if (now - spare.madeAt <= SPARE_MAX_AGE_MS && now >= spare.madeAt && stillNamed(spare.fd)) return spare;
    drop(spare);
  }
  return null;
}

/**
 * Opens `target` as a new private file: a spare of this spool renamed to
 * it, or else a file created there (O_EXCL). Fails as that open fails.
 */
export function createFromSpare(spool: Spool, target: string, now: number = Date.now()): number {
  const spare = takeSpareFile(spool, now);
  if (spare !== null) {
    try {
      // Replaces an existing `target` where open(O_EXCL) refused it: a fresh id and this pid, so only a repeated id could collide, and the commit's link still refuses an existing entry.
      fsSync.renameSync(spare.path, target);
      return spare.fd;
    } catch {
      drop(spare);
    }
  }
  return fsSync.openSync(target, 'wx', 0o600);
}

/** Closes every spare of the process and removes its file (the listener's close, settleCommits). */
export function releaseSpareFiles(): void {
  for (const stock of stocks.values()) for (const spare of stock.splice(0)) drop(spare);
  stocks.clear();
}

/** Whether the file behind `fd` still has a name (a repair may have removed it). */
function stillNamed(fd: number): boolean {
  try {
    return fsSync.fstatSync(fd).nlink > 0;
  } catch {
    return false;
  }
}

function drop(spare: SpareFile | { path: string; fd: number }): void {
  try {
    fsSync.closeSync(spare.fd);
  } catch {
    /* nothing to do */
  }
  try {
    fsSync.unlinkSync(spare.path);
  } catch {
    /* gone already, or repair's */
  }
}
