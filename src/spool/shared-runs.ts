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

export class SharedRuns<T> {
  /** Keys with a run in progress, and the callers waiting for the run after it. */
  private running = new Map<string, { next: Waiters<T> | null }>();

  constructor(private readonly operation: (key: string) => Promise<T>) {}

  /** Resolves with the outcome of a run of the operation on `key` that began after this call. */
  run(key: string): Promise<T> {
    const current = this.running.get(key);
    if (current !== undefined) {
      current.next ??= waiters<T>();
      return current.next.promise;
    }
    const batch = waiters<T>();
    this.start(key, { next: null }, batch);
    return batch.promise;
  }

  private start(key: string, state: { next: Waiters<T> | null }, batch: Waiters<T>): void {
    this.running.set(key, state);
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
      else this.running.delete(key);
    });
  }
}
