/**
 * The agent's single-flight flush queue: never two flushes at once, and a
 * request that arrives during a flush makes exactly one more flush after
 * it, for every reason requested meanwhile (in first-request order).
 *
 * `run` is the flush; the queue awaits it and never overlaps two calls. A
 * `run` that rejects is reported to `onError` and the queue goes on with
 * the next batch: one failed flush never stops the agent from flushing.
 * After `close()` requests are ignored and the pending batch is dropped;
 * the flush in progress (if any) is left to finish (`current` is it).
 */
export class FlushQueue<Reason extends string> {
  private readonly pending = new Set<Reason>();
  private draining = false;
  private closed = false;
  private running: Promise<void> | null = null;
  private drained: Promise<void> = Promise.resolve();

  constructor(
    private readonly run: (reasons: Reason[]) => Promise<void>,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Queues a flush for `reason`; it starts at once unless one is running (then right after it). */
  request(reason: Reason): void {
    if (this.closed) return;
    this.pending.add(reason);
    if (!this.draining) this.drained = this.drain();
  }

  /** The flush in progress, or null. */
  get current(): Promise<void> | null {
    return this.running;
  }

  /** Resolves when no flush runs and none is queued. */
  idle(): Promise<void> {
    return this.drained;
  }

  /** No more flushes: drops what is queued; a running flush finishes. */
  close(): void {
    this.closed = true;
    this.pending.clear();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.pending.size > 0 && !this.closed) {
        const reasons = [...this.pending];
        this.pending.clear();
        this.running = this.run(reasons).catch((err: unknown) => this.onError(err));
        await this.running;
        this.running = null;
      }
    } finally {
      this.draining = false;
    }
  }
}
