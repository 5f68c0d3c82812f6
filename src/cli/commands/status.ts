/**
 * `bulkmailer status` / `mailq`: the queue, oldest first. Entries are read
 * and written one at a time (only the sorted id list is held), so memory
 * stays flat on a 20,000-entry spool. `--json` prints one JSON array (the
 * format scripts rely on; see docs/cli.md); the human view is a table with
 * fixed column widths (no second pass over the queue to measure them), a
 * total line, a line per paused or held account (the reply, when, when
 * sending resumes), and what the last connectivity probe found.
 *
 * Read-only: never locks, never quarantines. A bad entry is reported on
 * stderr as it is met and skipped, and the table ends with a line naming
 * every entry not listed: corrupt ones (the next flush quarantines them) and
 * ones that cannot be read (a permission, a link, EIO: left for you). One
 * bad entry never hides the rest. Enqueues a crash of an earlier boot
 * interrupted after their fsync round (pending commits the next flush's
 * repair completes, by repair's own rule: pendingCommitFate) are counted on
 * a line of their own. An entry that vanishes mid-listing
 * (delivered meanwhile) is simply not shown, nor one a flush's journal
 * records as finished before its removal (listEntryIds).
 */
import type { EntryState } from '../../model/entry-state.js';
import {
  countInterruptedCommits,
  openSpool,
  readEntryForScan,
  listEntryIds,
  listAccountHolds,
  readLearntFigure,
  type ScanOptions,
  type Spool,
} from '../../spool/index.js';
import { connectionsLine, loweredFigure } from '../format/learnt-figure.js';
import { describeHold } from '../../flush/flush-summary.js';
import { isProviderPause } from '../../model/account-hold.js';
import { readLastProbe } from '../../connectivity/last-probe.js';
import { DestinationHealth } from '../../delivery/destination-health.js';
import type { CommandContext } from '../context.js';
import { writeOut } from '../output.js';
import { palette, type Palette } from '../format/color.js';
import { countEntry, describeProgress } from '../format/entry-progress.js';
import { fit, fitRight, formatAge, formatRelative, formatSize } from '../format/units.js';
import { plural } from '../../text.js';
import { loadAccountLookup, type AccountLookup } from '../format/entry-account.js';

export interface StatusJsonEntry {
  id: string;
  from: string;
  createdAt: string;
  size: number;
  subject: string | null;
  held: boolean;
  /** The account its sender chooses now (null: the config cannot be read). */
  account: string | null;
  recipients: {
    address: string;
    status: string;
    attempts: number;
    nextAttemptAt: string | null;
    lastReply: string | null;
    /** A copy may already have been delivered (a crash or a lost connection after the dot). */
    possibleDuplicate: boolean;
  }[];
}

export function toStatusJson(state: EntryState, account: string | null): StatusJsonEntry {
  return {
    id: state.id,
    from: state.from,
    createdAt: state.createdAt,
    size: state.size,
    subject: state.subject,
    held: state.held,
    account,
    recipients: state.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      attempts: r.attempts,
      nextAttemptAt: r.nextAttemptAt,
      lastReply: r.lastReply,
      possibleDuplicate: r.possibleDuplicate === true,
    })),
  };
}

const write = writeOut;

/** An entry the listing skipped: corrupt (the next flush quarantines it) or unreadable (left for you). */
interface SkippedEntry {
  kind: 'corrupt' | 'unreadable';
  reason: string;
}

/** Scan options that warn on stderr as they meet a bad entry and remember it for the last line. */
function skippingScan(ctx: CommandContext, skipped: SkippedEntry[]): ScanOptions {
  const note = (kind: SkippedEntry['kind']) => (id: string, reason: string) => {
    ctx.stderr.write(`bulkmailer: warning: ${reason} (entry ${id})\n`);
    skipped.push({ kind, reason });
  };
  return { onCorrupt: note('corrupt'), onUnreadable: note('unreadable') };
}

/** The line after the table naming what could not be listed, or null. */
function skippedLine(skipped: readonly SkippedEntry[], c: Palette): string | null {
  if (skipped.length === 0) return null;
  const what = skipped.map((s) => (s.kind === 'corrupt' ? `${s.reason} (the next flush moves it to spool/corrupt/)` : s.reason));
  return `${c.red('not listed')}: ${plural(skipped.length, 'entry', 'entries')}: ${what.join('; ')} (bulkmailer doctor says more)`;
}

export default async function status(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const spool = await openSpool(ctx.home);
  const ids = await listEntryIds(spool);
  const accounts = loadAccountLookup(ctx.home);
  const skipped: SkippedEntry[] = [];
  const scan = skippingScan(ctx, skipped);
  if (options.json) {
    await write(ctx, '[');
    let first = true;
    for (const id of ids) {
      const state = await readEntryForScan(spool, id, scan);
      if (state === null) continue;
      await write(ctx, (first ? '\n' : ',\n') + JSON.stringify(toStatusJson(state, accounts.of(state.from)?.name ?? null)));
      first = false;
    }
    await write(ctx, first ? ']\n' : '\n]\n');
    return 0;
  }
  await writeTable(ctx, spool, ids, scan, accounts);
  const line = skippedLine(skipped, palette(ctx.color));
  if (line !== null) await write(ctx, line + '\n');
  return 0;
}

const WIDTH = { id: 17, age: 4, size: 7, from: 24, account: 10, subject: 28 } as const;

/** `account` is shown only when more than the default account is configured (null: no column). */
function row(
  c: Palette,
  cells: { id: string; age: string; size: string; from: string; account: string | null; subject: string; progress: string },
): string {
  return (
    `${c.dim(fit(cells.id, WIDTH.id))}  ${fitRight(cells.age, WIDTH.age)}  ${fitRight(cells.size, WIDTH.size)}  ` +
    `${fit(cells.from, WIDTH.from)}  ${cells.account === null ? '' : `${fit(cells.account, WIDTH.account)}  `}${fit(cells.subject, WIDTH.subject)}  ${cells.progress}`
  );
}

interface Totals {
  entries: number;
  bytes: number;
  recipients: number;
  pending: number;
  deferred: number;
  sent: number;
  failed: number;
  held: number;
}

async function writeTable(
  ctx: CommandContext,
  spool: Spool,
  ids: readonly string[],
  scan: ScanOptions,
  accounts: AccountLookup,
): Promise<void> {
  const c = palette(ctx.color);
  const now = Date.now();
  const totals: Totals = { entries: 0, bytes: 0, recipients: 0, pending: 0, deferred: 0, sent: 0, failed: 0, held: 0 };
  for (const id of ids) {
    const state = await readEntryForScan(spool, id, scan);
    if (state === null) continue;
    if (totals.entries === 0) {
      await write(ctx, c.bold(row(palette(false), { id: 'ID', age: 'AGE', size: 'SIZE', from: 'FROM', account: accounts.several ? 'ACCOUNT' : null, subject: 'SUBJECT', progress: 'PROGRESS' })) + '\n');
    }
    const counts = countEntry(state);
    totals.entries++;
    totals.bytes += state.size;
    totals.recipients += counts.total;
    totals.pending += counts.pending;
    totals.deferred += counts.deferred;
    totals.sent += counts.sent;
    totals.failed += counts.failed;
    if (state.held) totals.held++;
    await write(
      ctx,
      row(c, {
        id: state.id,
        age: formatAge(state.createdAt, now),
        size: formatSize(state.size),
        from: state.from === '' ? '<> (bounce)' : state.from,
        account: accounts.several ? (accounts.of(state.from)?.name ?? '?') : null,
        subject: state.subject ?? '(no subject)',
        progress: describeProgress(state, counts, now, c),
      }) + '\n',
    );
  }
  await write(ctx, totalLine(totals) + '\n');
  // Possibly acknowledged already (docs/spool.md, "Enqueue: the commit protocol"): said, not hidden.
  const interrupted = await countInterruptedCommits(spool);
  if (interrupted > 0) {
    await write(
      ctx,
      `${c.yellow('not listed yet')}: ${plural(interrupted, 'message')} whose queueing a crash of an earlier boot interrupted after its fsync round (it may have been accepted); the next flush completes it\n`,
    );
  }
  for (const hold of listAccountHolds(spool)) {
    // Expired holds are shown too until the next flush clears them: the reply is still the news.
    const line = describeHold(hold, now);
    await write(ctx, (isProviderPause(hold.kind) ? c.yellow(line) : c.red(line)) + '\n');
  }
  // Accounts whose smarthost refused one more connection use fewer: said here, with the reply.
  for (const account of accounts.all()) {
    const line = connectionsLine(account.name, account.concurrency, loweredFigure('connections', account.concurrency, readLearntFigure(spool, account.name, 'connections'), now));
    if (line !== null) await write(ctx, c.yellow(line) + '\n');
  }
  await write(ctx, (await probeLine(ctx.home, now, c)) + '\n');
  // Direct delivery: destinations whose every MX failed wait out a backoff of their own.
  for (const down of DestinationHealth.load(spool).listDown(now)) {
    await write(
      ctx,
      `${c.yellow('destination down')}: ${down.display} down until ${down.until} (${plural(down.failures, 'failure')}): ${down.reason}\n`,
    );
  }
}

function totalLine(t: Totals): string {
  if (t.entries === 0) return 'queue is empty';
  const parts = [`${t.sent} sent`, `${t.pending} pending`, `${t.deferred} deferred`, `${t.failed} failed`];
  const held = t.held > 0 ? `; ${t.held} held` : '';
  return `total: ${plural(t.entries, 'entry', 'entries')} (${formatSize(t.bytes)}), ${plural(t.recipients, 'recipient')}: ${parts.join(', ')}${held}`;
}

async function probeLine(home: string, now: number, c: Palette): Promise<string> {
  const probe = await readLastProbe(home);
  if (probe === null) return 'smarthost: not probed yet (bulkmailer probe, or the next flush, will tell)';
  const when = formatRelative(probe.time, now);
  if (probe.reachable) return `smarthost: ${c.green('reachable')} at the last probe (${when}): ${probe.smarthost ?? ''}`.trimEnd();
  const why = probe.probes.map((p) => `${p.smarthost}: ${p.error ?? 'no answer'}`).join('; ');
  return `smarthost: ${c.red('unreachable')} at the last probe (${when})${why === '' ? '' : `: ${why}`}`;
}
