/**
 * A hand-driven clock and timer queue for the watcher's tests: time moves
 * only when the test says so (`advance`), and a simulated sleep moves the
 * wall clock without the monotonic one, as a suspended laptop does.
 */
import type { WatcherClock, WatcherTimers } from '../../src/connectivity/watcher.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeTime {
  mono = 0;
  wall = Date.UTC(2025, 0, 1);
  private timers: Timer[] = [];
  private nextId = 1;

  readonly clock: WatcherClock = { wallNow: () => this.wall, monoNow: () => this.mono };
  readonly timerApi: WatcherTimers = {
    setTimeout: (fn, ms) => {
      const timer = { id: this.nextId++, at: this.mono + ms, fn };
      this.timers.push(timer);
      return timer.id;
    },
    clearTimeout: (handle) => {
      this.timers = this.timers.filter((t) => t.id !== handle);
    },
  };

  /** Pending timers' delays from now, soonest first. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.mono).sort((a, b) => a - b);
  }

  /** Moves both clocks forward, firing due timers in order, letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const end = this.mono + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.wall += due.at - this.mono;
      this.mono = due.at;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
      await settle();
    }
    this.wall += end - this.mono;
    this.mono = end;
    await settle();
  }

  /** The machine sleeps: the wall clock jumps, the monotonic clock does not. */
  sleep(ms: number): void {
    this.wall += ms;
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}
