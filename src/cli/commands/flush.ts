/**
 * `bulkmailer flush`: one pass over the queue, for cron. Exit 0 when nothing
 * due is left (or another flusher holds the spool: it will do the work),
 * 75 when something is still due (offline, deferred, stopped, the account
 * paused by its provider); an account held until the user acts exits 77
 * (AUTH or sender refused), 76 (TLS failed) or 68 (smarthost name unknown).
 * Ends with a one-line summary unless --quiet; with --quiet it prints only
 * what needs a person (an error, a quarantined entry, an account held until
 * the user acts), so cron mails its user only then.
 */
import { FlushEvents } from '../../flush/flush-events.js';
import { summarizeFlush } from '../../flush/flush-summary.js';
import { isProviderPause } from '../../model/account-hold.js';
import { flushQueue } from '../../flush/flush.js';
import type { CommandContext } from '../context.js';
import { attachFlushOutput } from '../progress.js';

export interface FlushCommandOptions {
  quiet?: boolean;
  verbose?: boolean;
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
    // --quiet (cron): offline, deferred, busy and a provider's pause are the
    // normal life of a laptop and the exit code says which; only errors
    // (thrown, on stderr), quarantined entries (progress.ts) and an account
    // that needs its user (refused AUTH or sender, TLS, unknown host) are
    // worth a cron mail.
    const needsYou = result.outcome === 'held' && result.hold !== null && !isProviderPause(result.hold.kind);
    if (!options.quiet || needsYou) {
      const stream = result.outcome === 'offline' || result.outcome === 'held' ? ctx.stderr : ctx.stdout;
      stream.write(`${summarizeFlush(result)}\n`);
    }
    return result.exitCode;
  } finally {
    output.close();
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
