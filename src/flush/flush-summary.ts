/**
 * One line for a flush's result: what `bulkmailer flush` prints last, what
 * `sendmail -q` reports, and (after the outcome) what the agent logs.
 * Counts, the smarthost in its display form (never a password), and why
 * nothing happened when nothing did. Pure.
 */
import { formatDuration } from '../config/duration.js';
import { formatClock, plural } from '../text.js';
import { holdTitle, isProviderPause, type AccountHold } from '../model/account-hold.js';
import type { FlushResult } from './flush-events.js';

/**
 * One line for a hold, as status, doctor, probe, flush and the agent log
 * show it: the account, what happened, the reply, when, and when sending
 * resumes (or what the user must do).
 */
export function describeHold(hold: AccountHold, now: number): string {
  if (hold.kind === 'limit') return `account ${hold.account} held by the sending limit (${hold.rule ?? hold.reply}), resumes at ${formatClock(hold.until, now)}`;
  const since = formatClock(hold.since, now);
  const when = isProviderPause(hold.kind)
    ? `resumes at ${formatClock(hold.until, now)} (or now with \`bulkmailer retry --all\`)`
    : `needs you: fix it, then \`bulkmailer retry --all\` (tried again by itself at ${formatClock(hold.until, now)})`;
  return `account ${hold.account} ${holdTitle(hold.kind)}: ${hold.reply} (at ${since}); ${when}`;
}

export function summarizeFlush(result: FlushResult, now = Date.now()): string {
  switch (result.outcome) {
    case 'held': {
      const hold = result.hold;
      const what = hold === null ? 'account held' : describeHold(hold, now);
      const counts =
        result.messages > 0 ? `${plural(result.messages, 'message')}; recipients: ${result.sent} sent, ${result.deferred} deferred, ${result.failed} failed; ` : '';
      return `${counts}${what}; ${plural(result.remaining, 'recipient')} wait, nothing counted against them`;
    }
    case 'busy':
      return `another flush is running (pid ${result.busyPid ?? 'unknown'})`;
    case 'offline': {
      const why = result.probes.map((p) => `${p.smarthost}: ${p.error ?? 'unreachable'}`).join('; ');
      return `smarthost unreachable (${why || 'no smarthost answered'}); ${plural(result.remaining, 'recipient')} wait, nothing attempted`;
    }
    case 'done':
    case 'pending':
    case 'stopped': {
      const quarantined = result.quarantined > 0 ? `${plural(result.quarantined, 'entry', 'entries')} quarantined (see spool/corrupt)` : null;
      const skipped = result.unreadable > 0 ? `${plural(result.unreadable, 'entry', 'entries')} skipped: cannot be read (see status)` : null;
      const problems = [quarantined, skipped].filter((p): p is string => p !== null);
      if (result.due === 0 && result.messages === 0) {
        return `nothing to deliver${later(result, now)}${problems.map((p) => `; ${p}`).join('')}`;
      }
      const seconds = result.durationMs / 1000;
      const rate = seconds > 0 && result.messages > 0 ? ` (${(result.messages / seconds).toFixed(1)} messages/s)` : '';
      const parts = [
        plural(result.messages, 'message'),
        `recipients: ${result.sent} sent, ${result.deferred} deferred, ${result.failed} failed`,
      ];
      const bounces = bounceWords(result);
      if (bounces !== null) parts.push(bounces);
      parts.push(...problems);
      if (result.remaining > 0) parts.push(`${plural(result.remaining, 'recipient')} ${left(result, now)}`);
      if (result.outcome === 'stopped') parts.push('stopped early');
      return `${parts.join('; ')} in ${formatDuration(result.durationMs)}${rate} via ${result.smarthost}`;
    }
  }
}

/** The bounce reports this run generated and delivered, apart from the user's messages. */
function bounceWords(result: FlushResult): string | null {
  const sent = result.bouncesSent;
  const unsent = result.bouncesUnsent;
  if (result.bounces === 0 && sent === 0 && unsent === 0) return null;
  const words = [];
  if (result.bounces > 0) words.push(`${plural(result.bounces, 'bounce report')} to senders queued`);
  if (sent > 0) words.push(`${plural(sent, 'bounce report')} delivered`);
  if (unsent > 0) words.push(`${plural(unsent, 'bounce report')} not delivered yet`);
  return words.join(', ');
}

/** Why recipients are left: deferred until a time, or waiting for the next flush. */
function left(result: FlushResult, now: number): string {
  if (result.outcome === 'stopped') return 'left for the next flush';
  if (result.smarthostLost) return 'left: the smarthost went away';
  if (result.nextAttemptAt !== null && Date.parse(result.nextAttemptAt) > now) return `deferred until ${formatClock(result.nextAttemptAt, now)}`;
  return 'left for the next flush';
}

/** "; next attempt at 14:35" when the queue holds deferred mail that is not due yet. */
function later(result: FlushResult, now: number): string {
  if (result.nextAttemptAt === null || Date.parse(result.nextAttemptAt) <= now) return '';
  return ` (next attempt at ${formatClock(result.nextAttemptAt, now)})`;
}
