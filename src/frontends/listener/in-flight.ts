/**
 * The listener's DATA transactions whose reply is not decided yet: how many,
 * and a promise of the moment there are none (for the shutdown and the
 * sendmail command's -bs session, which answer every message before they
 * close).
 *
 * A count, not a Set of the transactions' promises: a long-lived Set that
 * has one entry added and deleted per message reallocates its table every
 * few messages, and V8 links each replaced table to the next; once one of
 * them is in the old generation, every later table and the promises it
 * held are promoted too, a few dozen bytes per message for the next full
 * collection to find (docs/performance.md, "The listener's promotions").
 *
 * Never fails: a tracked promise that rejects counts as settled.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Transactions not settled yet. */
  get size(): number {
    return this.count;
  }

  /** Counts `transaction` until it settles. */
  track(transaction: Promise<unknown>): void {
    this.count++;
    const settle = (): void => {
      if (--this.count > 0) return;
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    };
    transaction.then(settle, settle);
  }

  /** Resolves once no transaction is in flight (at once when none is). */
  settled(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
