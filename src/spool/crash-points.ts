/**
 * Named crash points for the crash tests: when BULKMAILER_CRASH_AT names
 * this point, the process kills itself with SIGKILL right here, leaving the
 * disk exactly as a power cut or kill -9 would. Unset in normal use; the
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

export function crashPoint(name: CrashPoint): void {
  if (process.env.BULKMAILER_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
