/**
 * The message of one DATA, handed to the intake's data handler as an
 * AsyncIterable<Buffer> while it arrives, with backpressure: once more than
 * HIGH_WATER_BYTES wait unread, the connection stops reading its socket
 * (TCP then holds the client back) and reads again when the reader has
 * taken everything. So the listener holds about one socket read of a
 * message at a time, whatever its size (test/frontends/listener-memory.test.ts).
 *
 * Each piece is a view into a socket read, which nobody writes again, so a
 * reader may keep it (MessageSource's rule, docs/library.md).
 *
 * Ends in one of three ways: the final dot (done), the connection lost or
 * the message over the size limit (the reader's next() rejects with the
 * error given to fail()). A reader that stops early (return()) makes the
 * rest be discarded as it arrives. Never throws into the connection.
 */

/** Unread bytes past which the socket is paused: one 64 KiB socket read. */
export const HIGH_WATER_BYTES = 64 * 1024;

type Waiter = { resolve(result: IteratorResult<Buffer>): void; reject(err: Error): void };

export class MessageBody implements AsyncIterableIterator<Buffer> {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | null = null;
  private waiter: Waiter | null = null;
  private paused = false;
  /** The reader stopped early: what still arrives is dropped. */
  abandoned = false;

  constructor(
    private readonly pauseInput: () => void,
    private readonly resumeInput: () => void,
    private readonly highWaterBytes = HIGH_WATER_BYTES,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(piece: Buffer): void {
    if (this.abandoned || this.ended || this.failure !== null) return;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      waiter.resolve({ value: piece, done: false });
      return;
    }
    this.queue.push(piece);
    this.queuedBytes += piece.length;
    if (!this.paused && this.queuedBytes > this.highWaterBytes) {
      this.paused = true;
      this.pauseInput();
    }
  }

  /** The final dot: the reader gets what is queued, then done. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The message cannot be completed: the reader's next read rejects with `err`. */
  fail(err: Error): void {
    if (this.ended || this.failure !== null) return;
    this.failure = err;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.release();
    this.wake();
  }

  next(): Promise<IteratorResult<Buffer>> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const piece = this.queue.shift();
    if (piece !== undefined) {
      this.queuedBytes -= piece.length;
      if (this.queue.length === 0) this.release();
      return Promise.resolve({ value: piece, done: false });
    }
    if (this.ended || this.abandoned) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<Buffer>> {
    this.abandoned = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.release();
    return Promise.resolve({ value: undefined, done: true });
  }

  private release(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeInput();
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    this.waiter = null;
    if (this.failure !== null) waiter.reject(this.failure);
    else if (this.queue.length === 0) waiter.resolve({ value: undefined, done: true });
  }
}
