/**
 * The flush's pipeline between its planner and its deliveries: a feed per
 * account batch that the planner pushes entry ids into and the batch's
 * sessions pull from (an EntrySource, src/delivery/deliver-batch.ts), and
 * the backlog that bounds how many planned entries wait for delivery, so
 * the planner stops reading the queue while the sessions catch up and a
 * flush's memory follows its window, not its queue.
 *
 * Pure bookkeeping in memory: no I/O, nothing that fails. An id pushed
 * into a feed leaves it exactly once, through `leave`: when its batch is
 * done with it, or when the batch stopped before taking it (`end`); one
 * handed back (`giveBack`) is still in the feed until then.
 */
import type { EntrySource } from '../delivery/deliver-batch.js';

export class EntryFeed implements EntrySource {
  private queue: string[] = [];
  private head = 0;
  private readonly waiting: ((id: string | undefined) => void)[] = [];
  private closed = false;
  /** The batch stopped taking entries: nothing more goes in. */
  ended = false;

  /** `leave` hears every id pushed, once, when it leaves the feed (delivered, or let go unattempted). */
  constructor(private readonly leave: (id: string) => void) {}

  /** Entries pushed and not yet taken. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Queues an entry for the batch; false (and nothing queued) once the batch has ended or the feed is closed. */
  push(id: string): boolean {
    if (this.ended || this.closed) return false;
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter(id);
    else this.queue.push(id);
    return true;
  }

  next(): Promise<string | undefined> {
    if (this.head < this.queue.length) {
      const id = this.queue[this.head++]!;
      if (this.head === this.queue.length) (this.queue = []), (this.head = 0);
      return Promise.resolve(id);
    }
    if (this.closed || this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  done(id: string): void {
    this.leave(id);
  }

  /** An entry a session took and could not start (refused as one too many): first for the others; let go once the batch has ended. */
  giveBack(id: string): void {
    if (this.ended) return this.leave(id);
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter(id);
    else this.queue.splice(this.head, 0, id);
  }

  /** The planner has no more for this batch: its sessions finish what is queued, then stop. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const left = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
    for (const id of left) this.leave(id);
  }
}

/** How many planned entries wait for delivery; the planner waits below a limit before it reads on. */
export class Backlog {
  private count = 0;
  private readonly waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  add(n = 1): void {
    this.count += n;
  }

  remove(n = 1): void {
    this.count -= n;
    this.wake();
  }

  /** Wakes every waiter to look again (an entry left, or the flush is stopping). */
  wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Resolves once fewer than `limit` entries wait, or `stop()` says to stop waiting. */
  async below(limit: number, stop: () => boolean): Promise<void> {
    while (this.count >= limit && !stop()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
}
