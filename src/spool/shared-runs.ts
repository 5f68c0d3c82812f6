/**
 * Runs of one operation per key that callers share, for work whose result
 * covers everything done before it began: a directory fsync (fsync-group.ts)
 * or a nudge to the flusher (trigger.ts). `run(key)` resolves (or rejects)
 * with the outcome of a run that began after the call: the first caller
 * starts one at once; callers that arrive while it runs share the next,
 * which starts when it ends. So N callers at once cost two runs, not N, and
 * none is answered by a run that began before it asked.
 *
 * Fails as the operation fails: every caller sharing a failed run gets its
 * error (a synchronous throw counts as one); the next run starts afresh.
 */

interface Waiters<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

function waiters<T>(): Waiters<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface KeyState<T> {
  running: boolean;
  /** The callers waiting for the run after this one. */
  next: Waiters<T> | null;
}

/** Idle keys are forgotten only past this many keys (see `keys`). */
const KEPT_KEYS = 256;

export class SharedRuns<T> {
  /**
   * Every key run lately, running or not. A key is kept when its run ends,
   * not deleted: a Map that has keys deleted and set again on every run
   * reallocates its table every few runs, and V8 links each replaced table
   * to its successor; once one of them is in the old generation, every
   * later table, with the promises and waiters its entries held, outlives
   * the young generation's collections and is promoted. That was a good
   * part of what the listener promoted per message (docs/performance.md,
   * "The listener's promotions"). Idle keys are dropped only once there
   * are KEPT_KEYS of them (a library caller enqueueing into many spools).
   */
  private keys = new Map<string, KeyState<T>>();

  constructor(private readonly operation: (key: string) => Promise<T>) {}

  /** Resolves with the outcome of a run of the operation on `key` that began after this call. */
  run(key: string): Promise<T> {
    let state = this.keys.get(key);
    if (state?.running === true) {
      state.next ??= waiters<T>();
      return state.next.promise;
    }
    if (state === undefined) {
      if (this.keys.size >= KEPT_KEYS) this.forgetIdle();
      state = { running: false, next: null };
      this.keys.set(key, state);
    }
    const batch = waiters<T>();
    this.start(key, state, batch);
    return batch.promise;
  }

  private start(key: string, state: KeyState<T>, batch: Waiters<T>): void {
    state.running = true;
    let done: Promise<T>;
    try {
      done = this.operation(key);
    } catch (err) {
      done = Promise.reject(err);
    }
    done.then(batch.resolve, batch.reject).finally(() => {
      const following = state.next;
      state.next = null;
      if (following !== null) this.start(key, state, following);
      else state.running = false;
    });
  }

  private forgetIdle(): void {
    for (const [key, state] of this.keys) if (!state.running) this.keys.delete(key);
  }
}
