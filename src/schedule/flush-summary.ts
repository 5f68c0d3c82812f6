/**
 * One log line for a flush's result, for the agent's log: counts, the
 * smarthost (display form: no password), and why nothing happened when
 * nothing did. Pure.
 */
import type { FlushResult } from './flush-events.js';

export function summarizeFlushResult(result: FlushResult): string {
  switch (result.outcome) {
    case 'busy':
      return `skipped: another flush is running (pid ${result.busyPid ?? 'unknown'})`;
    case 'offline': {
      const why = result.probes.map((p) => `${p.smarthost}: ${p.error ?? 'unreachable'}`).join('; ');
      return `offline (${why || 'no smarthost answered'}); ${result.remaining} recipients wait, nothing attempted`;
    }
    case 'done':
    case 'pending':
    case 'stopped': {
      if (result.due === 0 && result.outcome === 'done') return `nothing due (${result.durationMs}ms)`;
      const parts = [
        `${result.outcome}: ${result.messages} messages`,
        `${result.sent} sent, ${result.deferred} deferred, ${result.failed} failed`,
      ];
      if (result.remaining > 0) parts.push(`${result.remaining} still due`);
      if (result.bounces > 0) parts.push(`${result.bounces} bounces queued`);
      return `${parts.join('; ')} in ${result.durationMs}ms via ${result.smarthost ?? '-'}`;
    }
  }
}
