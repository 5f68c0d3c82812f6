/**
 * Group commit for directory changes that may lag a moment behind: the
 * removal of finished entries. Instead of one directory fsync per removal
 * (each forcing its own journal commit, and stalling every other file
 * operation on that directory meanwhile), removals mark their directory
 * dirty and one fsync per dirty directory runs every SYNC_INTERVAL_MS, and
 * once more when the flush ends.
 *
 * What this costs: after a power cut (not a kill -9: the kernel keeps the
 * change), the entries removed in the last SYNC_INTERVAL_MS can reappear
 * with their previous state, and their last transaction is sent again. That
 * is promise 3's window (accepted by the smarthost, not yet durably
 * recorded), held open a few milliseconds longer. Writes of a state file
 * that another transaction on the same entry will follow are never deferred.
 *
 * How it fails: the first failed fsync (EIO from a dying disk, say) is
 * kept. Every caller waiting on that round gets it, `onFailure` hears it
 * (also when the round was started by the timer and nobody waits: the batch
 * stops at once instead of an unhandled rejection killing the process), and
 * every later `sync()` rejects with it without trying again: after a failed
 * fsync the kernel may have dropped the changes, and a later fsync that
 * succeeds would not bring them back (the "fsyncgate" lesson). The rounds
 * are chained on a promise that never rejects, so no round inherits
 * another's rejection by accident.
 */
import { fromFsError, type BulkmailerError } from '../errors.js';
import { fsyncDirKeptOpen } from './dir-handles.js';

/** Kept well below any SMTP timeout, so the window stays that of a transaction in flight. */
const SYNC_INTERVAL_MS = 50;

export interface DirSyncerOptions {
  /** Called once, with the first failure, whoever started the round: the caller stops its batch. */
  onFailure?: (err: BulkmailerError) => void;
  /**
   * The directory fsync (a test seam). The default keeps each directory's
   * handle open between rounds (./dir-handles.ts): a drain fsyncs the same
   * few state directories every SYNC_INTERVAL_MS, and opening and closing
   * each around its fsync was two syscalls on the main thread per
   * directory per round (about one pair per two messages of a drain).
   */
  fsync?: (dir: string) => Promise<void>;
}

export class DirSyncer {
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** The last round, settled either way: the next round starts after it, whatever it did. */
  private running: Promise<void> = Promise.resolve();
  private failure: BulkmailerError | null = null;
  private readonly fsync: (dir: string) => Promise<void>;
  private readonly onFailure: ((err: BulkmailerError) => void) | undefined;

  constructor(options: DirSyncerOptions = {}) {
    this.fsync = options.fsync ?? fsyncDirKeptOpen;
    this.onFailure = options.onFailure;
  }

  /** The first failure, if any: nothing marked since is known to be durable. */
  get error(): BulkmailerError | null {
    return this.failure;
  }

  markDirty(dir: string): void {
    this.dirty.add(dir);
    if (this.failure !== null) return;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      // Nobody waits on a timer's round: its failure reaches onFailure and every later sync().
      this.sync().catch(() => {});
    }, SYNC_INTERVAL_MS);
  }

  /** fsyncs every directory marked so far; resolves when they are durable, rejects with the first failure. */
  sync(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const dirs = [...this.dirty];
    this.dirty.clear();
    const round = this.running.then(() => this.syncAll(dirs));
    this.running = round.then(
      () => {},
      () => {},
    );
    return round;
  }

  private async syncAll(dirs: readonly string[]): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // Every fsync of the round runs to its end before the round reports, so none is left running unobserved.
    const results = await Promise.allSettled(dirs.map((dir) => Promise.resolve().then(() => this.fsync(dir))));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed < 0) return;
    if (this.failure === null) {
      const reason = (results[failed] as PromiseRejectedResult).reason;
      this.failure = fromFsError(
        `delivery stopped: the removal of delivered entries could not be made durable (fsync of ${dirs[failed]})`,
        reason,
      );
      this.onFailure?.(this.failure);
    }
    throw this.failure;
  }
}
