/**
 * Named crash points for the crash tests: when BULKMAILER_CRASH_AT names
 * this point, the process kills itself with SIGKILL right here, leaving the
 * disk exactly as a power cut or kill -9 would. Unset in normal use; the
 * check is one string comparison.
 */
const target = process.env.BULKMAILER_CRASH_AT;

export type CrashPoint =
  | 'enqueue-after-message-fsync'
  | 'enqueue-after-message-rename'
  | 'enqueue-after-state-rename'
  | 'flush-after-data'
  | 'flush-after-state-write'
  | 'flush-after-delay-warning-queued';

export function crashPoint(name: CrashPoint): void {
  if (target === name) process.kill(process.pid, 'SIGKILL');
}
