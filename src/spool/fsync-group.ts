/**
 * Group commit of directory fsyncs for concurrent enqueues (the listener's
 * parallel sessions, a library caller's parallel enqueues): a caller that
 * needs the entries it renamed into `dir` to be durable asks for
 * `syncDirGrouped(dir)`, which resolves once an fsync of `dir` that began
 * after the call has completed. Callers that arrive while an fsync of the
 * same directory is running share the next one, so N sessions committing
 * at the same moment cost one fsync per directory instead of N, and none is
 * acknowledged before its own rename is durable (promise 1).
 *
 * Fails as fsync fails: every caller sharing a failed fsync gets its error
 * (their renames are not known to be durable, so none may say 250).
 */
import { fsyncDir } from './durable-fs.js';

interface Waiters {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface DirGroup {
  /** An fsync is in progress: renames made after it began are not covered. */
  running: boolean;
  /** Callers waiting for the next fsync, which starts when the running one ends. */
  next: Waiters | null;
}

const groups = new Map<string, DirGroup>();

function waiters(): Waiters {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function start(dir: string, group: DirGroup, batch: Waiters): void {
  group.running = true;
  fsyncDir(dir).then(batch.resolve, batch.reject).finally(() => {
    group.running = false;
    const following = group.next;
    group.next = null;
    if (following !== null) start(dir, group, following);
    else groups.delete(dir);
  });
}

export function syncDirGrouped(dir: string): Promise<void> {
  let group = groups.get(dir);
  if (group === undefined) {
    group = { running: false, next: null };
    groups.set(dir, group);
  }
  if (group.next !== null) return group.next.promise;
  const batch = waiters();
  if (group.running) group.next = batch;
  else start(dir, group, batch);
  return batch.promise;
}
