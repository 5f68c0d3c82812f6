/**
 * What `bulkmailer flush` shows while it runs, driven by the flush's typed
 * events (src/flush/flush-events.ts); the final one-line summary is
 * flush.ts's.
 *
 *  - stderr is a terminal: a live cli-progress bar on stderr (recipients
 *    done of total, rate, ETA, current smarthost); warnings and --verbose
 *    lines are printed above the bar, never through it.
 *  - not a terminal (cron, a pipe, a log file): plain lines on stdout, one
 *    when delivery starts and then at most one every `intervalMs` (5 s),
 *    so a cron mail stays short and a log file readable.
 *  - --quiet: nothing but errors (quarantined and skipped entries, on stderr).
 *  - --verbose: every transaction, one line each, with the reply of every
 *    recipient that was not sent.
 *
 * "Done" counts recipients with an outcome in this run (sent, deferred or
 * failed), out of the recipients due at the start of each pass. Output
 * never fails the flush: the bar is stopped on `end` (and by `close()`, for
 * a flush that threw), so the cursor is always restored.
 */
import { createRequire } from 'node:module';
import type { MultiBar, SingleBar } from 'cli-progress';
import type { FlushEvents, FlushPlannedEvent, FlushStartEvent, TransactionEvent } from '../flush/flush-events.js';
import type { CommandContext } from './context.js';
import { palette } from './format/color.js';
import { formatDuration } from '../config/duration.js';
import { plural } from '../text.js';

/**
 * cli-progress and the string-width modules it loads (~10 ms of start-up),
 * loaded only when a bar is drawn: a flush from cron (--quiet, or no
 * terminal) never draws one.
 */
const loadCliProgress = (): typeof import('cli-progress') => createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');

export interface FlushOutputOptions {
  quiet?: boolean;
  verbose?: boolean;
  /** Minimum time between two plain progress lines without a terminal. */
  intervalMs?: number;
  /** Force the bar on or off (tests); default: stderr is a TTY. */
  tty?: boolean;
  now?: () => number;
}

export interface FlushOutput {
  /** Stops the bar if it is still drawn. Idempotent. */
  close(): void;
}

const DEFAULT_INTERVAL_MS = 5_000;

interface Tally {
  total: number;
  done: number;
  sent: number;
  deferred: number;
  failed: number;
  smarthost: string;
  startedAt: number;
}

function rate(t: Tally, now: number): number {
  const seconds = (now - t.startedAt) / 1000;
  return seconds > 0 ? t.done / seconds : 0;
}

export function describeTally(t: Tally, now: number): string {
  const r = rate(t, now);
  const left = t.total - t.done;
  const eta = r > 0 && left > 0 ? `, ETA ${formatDuration((left / r) * 1000)}` : '';
  return (
    `${t.done}/${plural(t.total, 'recipient')} done (${t.sent} sent, ${t.deferred} deferred, ${t.failed} failed), ` +
    `${r.toFixed(1)}/s${eta} via ${t.smarthost}`
  );
}

export function describeTransaction(event: TransactionEvent): string {
  const counts = { sent: 0, deferred: 0, failed: 0 };
  const details: string[] = [];
  for (const o of event.outcomes) {
    const kind = o.kind === 'interrupted' ? 'deferred' : o.kind;
    counts[kind]++;
    if (o.kind !== 'sent') details.push(`  ${o.address}: ${o.kind}${o.possibleDuplicate ? ' (possible duplicate)' : ''}: ${o.reply}`);
  }
  const summary = (['sent', 'deferred', 'failed'] as const)
    .filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${k}`)
    .join(', ');
  return [`${event.id}: ${summary}`, ...details].join('\n');
}

export function attachFlushOutput(events: FlushEvents, ctx: CommandContext, options: FlushOutputOptions = {}): FlushOutput {
  const now = options.now ?? Date.now;
  const tty = options.tty ?? Boolean(ctx.stderr.isTTY);
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const c = palette(ctx.color);
  const tally: Tally = { total: 0, done: 0, sent: 0, deferred: 0, failed: 0, smarthost: '', startedAt: 0 };
  let multibar: MultiBar | null = null;
  let bar: SingleBar | null = null;
  let lastLine = 0;

  /** A line for a human: above the bar when there is one. */
  const say = (stream: 'out' | 'err', text: string) => {
    if (multibar !== null) multibar.log(text + '\n');
    else (stream === 'out' ? ctx.stdout : ctx.stderr).write(text + '\n');
  };

  const payload = () => ({ rate: rate(tally, now()).toFixed(1), smarthost: tally.smarthost });

  const onStart = (event: FlushStartEvent) => {
    const first = tally.startedAt === 0;
    if (first) tally.startedAt = now();
    tally.total += event.dueRecipients;
    tally.smarthost = event.smarthost;
    if (options.quiet) return;
    if (tty) {
      if (bar === null) {
        const cliProgress = loadCliProgress();
        multibar = new cliProgress.MultiBar(
          {
            stream: ctx.stderr as NodeJS.WriteStream,
            format: ` {bar} {value}/{total} recipients | {rate}/s | ETA {eta_formatted} | {smarthost}`,
            barCompleteChar: '\u2588',
            barIncompleteChar: '\u2591',
            hideCursor: true,
            gracefulExit: false, // flush.ts owns SIGINT/SIGTERM; close() restores the cursor
            clearOnComplete: false,
            etaBuffer: 50,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar = multibar.create(tally.total, tally.done, payload());
      } else {
        bar.setTotal(tally.total);
      }
      return;
    }
    const entries = plural(event.dueEntries, 'entry', 'entries');
    ctx.stdout.write(`${first ? 'delivering' : 'another pass:'} ${plural(event.dueRecipients, 'recipient')} in ${entries} via ${event.smarthost}\n`);
    lastLine = now();
  };

  // The planner found more further down the queue: the bar's total grows; no line of its own.
  const onPlanned = (event: FlushPlannedEvent) => {
    tally.total += event.dueRecipients;
    bar?.setTotal(tally.total);
  };

  const onTransaction = (event: TransactionEvent) => {
    for (const o of event.outcomes) {
      tally.done++;
      if (o.kind === 'sent') tally.sent++;
      else if (o.kind === 'failed') tally.failed++;
      else tally.deferred++;
    }
    if (options.quiet) return;
    if (options.verbose) say('out', describeTransaction(event));
    if (bar !== null) {
      bar.update(tally.done, payload());
      return;
    }
    if (!tty && now() - lastLine >= interval) {
      ctx.stdout.write(describeTally(tally, now()) + '\n');
      lastLine = now();
    }
  };

  const onWarning = (message: string) => {
    if (!options.quiet) say('err', `bulkmailer: ${c.yellow('warning')}: ${message}`);
  };
  const onCorrupt = (id: string, reason: string) => say('err', `bulkmailer: ${c.red('quarantined')} ${id}: ${reason}`);
  // Needs a person (a permission, a link, a failing disk), like a quarantine: said even with --quiet.
  const onUnreadable = (id: string, reason: string) => say('err', `bulkmailer: ${c.red('skipped')} ${id}, left in the queue: ${reason}`);

  const close = () => {
    events.off('start', onStart);
    events.off('planned', onPlanned);
    events.off('transaction', onTransaction);
    events.off('warning', onWarning);
    events.off('corrupt', onCorrupt);
    events.off('unreadable', onUnreadable);
    events.off('end', close);
    if (multibar !== null) {
      bar?.update(tally.done, payload());
      multibar.update(); // prints lines still in its log buffer; stop() alone would drop them
      multibar.stop();
      multibar = null;
      bar = null;
    }
  };

  events.on('start', onStart);
  events.on('planned', onPlanned);
  events.on('transaction', onTransaction);
  events.on('warning', onWarning);
  events.on('corrupt', onCorrupt);
  events.on('unreadable', onUnreadable);
  events.on('end', close);
  return { close };
}
