/**
 * Named crash points for the crash tests: when BULKMAILER_CRASH_AT names
 * this point, the process kills itself with SIGKILL right here, leaving the
 * disk exactly as a power cut or kill -9 would; `POINT@N` does so at its
 * Nth hit in the process. Unset in normal use.
 *
 * The variable is read once, at the first crash point the process meets
 * (an enqueue meets three, a transaction two), and a point costs a
 * comparison with null after that: the tests set it for a child process
 * only, never in a running one. Not read at load: the sendmail command's
 * start-up snapshot loads this module at build time, when the variable is
 * not the run's, and the build forgets whatever was read
 * (forgetCrashSetting, as it forgets the boot id) should its warm-up ever
 * meet a point.
 */

export type CrashPoint =
  | 'enqueue-after-message-rename'
  | 'enqueue-after-fsync-round'
  | 'enqueue-after-commit-link'
  | 'flush-after-data'
  | 'flush-after-state-write'
  | 'flush-after-delay-warning-queued'
  | 'flush-before-finished-removal';

/** BULKMAILER_CRASH_AT as read: undefined until the first crash point, null when unset. */
let setting: string | null | undefined;

/** Hits of each point so far, for `name@N` (the Nth hit: a long-running process's second enqueue, say). */
const hits = new Map<string, number>();

export function crashPoint(name: CrashPoint): void {
  if (setting === undefined) setting = process.env.BULKMAILER_CRASH_AT ?? null;
  if (setting === null) return;
  if (setting === name) process.kill(process.pid, 'SIGKILL');
  else if (setting.startsWith(`${name}@`)) {
    const hit = (hits.get(name) ?? 0) + 1;
    hits.set(name, hit);
    if (String(hit) === setting.slice(name.length + 1)) process.kill(process.pid, 'SIGKILL');
  }
}

/** Forgets the setting read and the hits counted: the next crash point reads the environment again (a start-up snapshot's run). */
export function forgetCrashSetting(): void {
  setting = undefined;
  hits.clear();
}
