/**
 * Coalesces a burst of pokes (nudges from enqueuers) into one call: fires
 * `quietMs` after the last poke, but never later than `maxWaitMs` after the
 * first poke of the burst, so a steady stream still fires regularly.
 * Timers are injectable for tests. Never throws.
 */
export interface DebounceTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

const realTimers: DebounceTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => performance.now(),
};

export class Debouncer {
  private timer: unknown = null;
  private firstAt: number | null = null;

  constructor(
    private readonly fire: () => void,
    private readonly quietMs: number,
    private readonly maxWaitMs: number,
    private readonly timers: DebounceTimers = realTimers,
  ) {}

  poke(): void {
    const now = this.timers.now();
    this.firstAt ??= now;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.quietMs, this.firstAt + this.maxWaitMs - now));
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.firstAt = null;
      this.fire();
    }, wait);
  }

  cancel(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.firstAt = null;
  }
}
