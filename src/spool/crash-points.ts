/**
 * Named crash points for the crash tests: when BULKMAILER_CRASH_AT names
 * this point, the process kills itself with SIGKILL right here, leaving the
 * disk exactly as a power cut or kill -9 would; `POINT@N` does so at its
 * Nth hit in the process. Unset in normal use; the
 * check is one environment lookup and one string comparison. Read at each
 * call, not once at load: the sendmail command's start-up snapshot loads
 * this module at build time, when the variable is not the run's.
 */

export type CrashPoint =
  | 'enqueue-after-message-rename'
  | 'enqueue-after-fsync-round'
  | 'enqueue-after-commit-link'
  | 'flush-after-data'
  | 'flush-after-state-write'
  | 'flush-after-delay-warning-queued'
  | 'flush-before-finished-removal';

/** Hits of each point so far, for `name@N` (the Nth hit: a long-running process's second enqueue, say). */
const hits = new Map<string, number>();

export function crashPoint(name: CrashPoint): void {
  const at = process.env.BULKMAILER_CRASH_AT;
  if (at === undefined) return;
  if (at === name) process.kill(process.pid, 'SIGKILL');
  else if (at.startsWith(`${name}@`)) {
    const hit = (hits.get(name) ?? 0) + 1;
    hits.set(name, hit);
    if (String(hit) === at.slice(name.length + 1)) process.kill(process.pid, 'SIGKILL');
  }
}
