/**
 * Teardown as a stack, as graphile-worker's runner does it: each resource
 * pushes its releaser the moment it is acquired, and `release()` runs them
 * last-in first-out, so what was set up last is taken down first (the
 * listener before the trigger socket, the socket before the lock), and a
 * start that fails half-way releases exactly what it had acquired.
 *
 * Every releaser runs once, even when an earlier one throws; errors go to
 * `onError` with the releaser's name and never stop the rest (the instance
 * lock is released last and must be released whatever failed before it).
 */
export type Releaser = () => void | Promise<void>;

export class Releasers {
  private stack: { name: string; release: Releaser }[] = [];

  constructor(private readonly onError: (name: string, err: unknown) => void = () => {}) {}

  push(name: string, release: Releaser): void {
    this.stack.push({ name, release });
  }

  /** How many releasers are waiting. */
  get size(): number {
    return this.stack.length;
  }

  /** Runs every releaser pushed so far, newest first; releasers pushed meanwhile run too. */
  async release(): Promise<void> {
    for (let next = this.stack.pop(); next !== undefined; next = this.stack.pop()) {
      try {
        await next.release();
      } catch (err) {
        this.onError(next.name, err);
      }
    }
  }
}
