/**
 * Directory handles kept open for the per-message directory fsyncs of the
 * enqueue path (msg/<b> and tmp/ in its fsync round, state/<b> after its
 * commit; enqueue.ts) and of the flush's grouped removals; opening and
 * closing each one around its fsync was two syscalls more per directory
 * and message on the listener's busiest path. A spool has 33 such
 * directories, so a process keeps their handles instead.
 *
 * Bounded: a library caller (or the test suite) may enqueue into many
 * spools in one process, so past `max` the least recently used handle that
 * no fsync is using is closed. A handle is never closed while an fsync runs
 * on it: its number could be reused by another open in the meantime, and
 * the fsync would then make some other file durable, silently.
 *
 * Released when idle: a process that has not fsynced through them for
 * IDLE_MS closes them all (an unref'd timer, so it keeps no process alive),
 * so a library caller's process does not hold a spool's file system busy
 * (an unmount) long after its last enqueue; `releaseDirHandles()` closes
 * them at once.
 *
 * Not for a one-shot process (the sendmail command, `bulkmailer enqueue`):
 * its one enqueue opens, fsyncs and closes (Spool.oneShot), since
 * a kept handle would never be used again and its idle timer would be the
 * process's first setTimeout.
 *
 * A handle names the directory it was opened on. The spool's bucket
 * directories are never removed or replaced while a process runs
 * (spool-dirs.ts checks them once per process), so it stays the directory
 * the entry was renamed into. Fails as open(2) and fsync(2) fail.
 */
import fs from 'node:fs';
import { fsyncFd, openDirectory } from './durable-fs.js';

const IDLE_MS = 1000;

interface Handle {
  fd: number;
  inUse: number;
  /** When it was last used, in fsyncs of this DirHandles (for the least recently used). */
  lastUse: number;
}

export class DirHandles {
  /**
   * By directory. Recency is a counter in each handle, not the Map's order:
   * deleting and setting a key on every fsync made V8 reallocate the Map's
   * table every few fsyncs, and each replaced table, linked to the next,
   * was promoted to the old generation with its successors (the listener's
   * memory per message: docs/performance.md, "The listener's promotions").
   */
  private handles = new Map<string, Handle>();
  private uses = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private usedSinceTimer = false;

  constructor(
    private readonly max = 64,
    private readonly fsync: (fd: number) => Promise<void> = fsyncFd,
    private readonly idleMs = IDLE_MS,
  ) {}

  /** fsyncs `dir` through a handle kept open for the next time. */
  async fsyncDir(dir: string): Promise<void> {
    let handle = this.handles.get(dir);
    if (handle === undefined) {
      handle = { fd: openDirectory(dir), inUse: 0, lastUse: 0 };
      this.closeIdlePastBound();
      this.handles.set(dir, handle);
    }
    handle.lastUse = ++this.uses;
    this.usedSinceTimer = true;
    this.idleTimer ??= setTimeout(() => this.onIdleTimer(), this.idleMs).unref();
    handle.inUse++;
    try {
      await this.fsync(handle.fd);
    } finally {
      handle.inUse--;
    }
  }

  /** How many handles are open. */
  get size(): number {
    return this.handles.size;
  }

  /** Closes every handle no fsync is using. */
  release(): void {
    for (const [dir, handle] of this.handles) {
      if (handle.inUse > 0) continue;
      this.handles.delete(dir);
      fs.closeSync(handle.fd);
    }
  }

  private onIdleTimer(): void {
    this.idleTimer = null;
    if (!this.usedSinceTimer) this.release();
    this.usedSinceTimer = false;
    if (this.handles.size > 0) this.idleTimer = setTimeout(() => this.onIdleTimer(), this.idleMs).unref();
  }

  /** Makes room for one more: closes the least recently used idle handles past the bound. */
  private closeIdlePastBound(): void {
    if (this.handles.size < this.max) return;
    const idle = [...this.handles].filter(([, handle]) => handle.inUse === 0).sort(([, a], [, b]) => a.lastUse - b.lastUse);
    for (const [dir, handle] of idle) {
      if (this.handles.size < this.max) return;
      this.handles.delete(dir);
      fs.closeSync(handle.fd);
    }
  }
}

const shared = new DirHandles();

/** fsyncs `dir` through the process's shared handles. */
export function fsyncDirKeptOpen(dir: string): Promise<void> {
  return shared.fsyncDir(dir);
}

/** Closes the process's kept handles now (before unmounting a spool's file system, say). */
export function releaseDirHandles(): void {
  shared.release();
}
