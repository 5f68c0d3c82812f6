/**
 * `bulkmailer flush`: one pass over the queue, for cron. Exit 0 when nothing
 * due is left (or another flusher holds the spool: it will do the work),
 * 75 when something is still due (offline, deferred, stopped).
 * Ends with a one-line summary unless --quiet.
 */
import { formatDuration } from '../../config/duration.js';
import { FlushEvents, type FlushResult } from '../../schedule/flush-events.js';
import { flushQueue } from '../../schedule/flush.js';
import type { CommandContext } from '../context.js';
import { attachFlushOutput } from '../progress.js';

export interface FlushCommandOptions {
  quiet?: boolean;
  verbose?: boolean;
}

export function summarizeFlush(result: FlushResult): string {
  switch (result.outcome) {
    case 'busy':
      return `another flush is running (pid ${result.busyPid ?? 'unknown'})`;
    case 'offline': {
      const why = result.probes.map((p) => `${p.smarthost}: ${p.error ?? 'unreachable'}`).join('; ');
      return `smarthost unreachable (${why}); ${result.remaining} recipients wait, nothing attempted`;
    }
    default: {
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

export default async function flush(ctx: CommandContext, options: FlushCommandOptions): Promise<number> {
  const events = new FlushEvents();
  // Progress bar or log lines, warnings and quarantine notices (src/cli/progress.ts).
  const output = attachFlushOutput(events, ctx, { quiet: options.quiet, verbose: options.verbose });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const result = await flushQueue({ home: ctx.home, events, signal: controller.signal });
    if (!options.quiet || result.outcome === 'offline') {
      const stream = result.outcome === 'offline' ? ctx.stderr : ctx.stdout;
      if (!(options.quiet && result.outcome === 'busy')) stream.write(`${summarizeFlush(result)}\n`);
    }
    return result.exitCode;
  } finally {
    output.close();
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
