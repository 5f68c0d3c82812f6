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
 */
import { fsyncDir } from './durable-fs.js';

/** Kept well below any SMTP timeout, so the window stays that of a transaction in flight. */
const SYNC_INTERVAL_MS = 50;

export class DirSyncer {
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  markDirty(dir: string): void {
    this.dirty.add(dir);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.sync();
    }, SYNC_INTERVAL_MS);
  }

  /** fsyncs every directory marked so far; resolves when they are durable. */
  sync(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const dirs = [...this.dirty];
    this.dirty.clear();
    const previous = this.running;
    this.running = previous.then(() => Promise.all(dirs.map((d) => fsyncDir(d))).then(() => undefined));
    return this.running;
  }
}
