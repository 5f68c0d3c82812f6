/**
 * One line for a flush's result: what `bulkmailer flush` prints last, what
 * `sendmail -q` reports, and (after the outcome) what the agent logs.
 * Counts, the smarthost in its display form (never a password), and why
 * nothing happened when nothing did. Pure.
 */
import { formatDuration } from '../config/duration.js';
import type { FlushResult } from './flush-events.js';

export function summarizeFlush(result: FlushResult): string {
  switch (result.outcome) {
    case 'busy':
      return `another flush is running (pid ${result.busyPid ?? 'unknown'})`;
    case 'offline': {
      const why = result.probes.map((p) => `${p.smarthost}: ${p.error ?? 'unreachable'}`).join('; ');
      return `smarthost unreachable (${why || 'no smarthost answered'}); ${result.remaining} recipients wait, nothing attempted`;
    }
    case 'done':
    case 'pending':
    case 'stopped': {
      if (result.due === 0) return 'nothing to deliver';
      const seconds = result.durationMs / 1000;
      const rate = seconds > 0 ? ` (${(result.messages / seconds).toFixed(1)} messages/s)` : '';
      const parts = [
        `${result.messages} messages`,
        `recipients: ${result.sent} sent, ${result.deferred} deferred, ${result.failed} failed`,
      ];
      if (result.bounces > 0) parts.push(`${result.bounces} bounces queued`);
      if (result.remaining > 0) parts.push(`${result.remaining} still due`);
      if (result.outcome === 'stopped') parts.push('stopped early');
      return `${parts.join('; ')} in ${formatDuration(result.durationMs)}${rate} via ${result.smarthost}`;
    }
  }
}
