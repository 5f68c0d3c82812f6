/**
 * An fsync the test completes by hand, recording each call: for the group
 * commit tests (fsync-group, dir-syncer), which decide when each fsync ends
 * and whether it fails. `tick` lets promise callbacks run.
 */
export function manualFsync() {
  const calls: { dir: string; finish: (err?: Error) => void }[] = [];
  const fsync = (dir: string) =>
    new Promise<void>((resolve, reject) => calls.push({ dir, finish: (err) => (err ? reject(err) : resolve()) }));
  return { calls, fsync };
}

export const tick = () => new Promise((resolve) => setImmediate(resolve));
