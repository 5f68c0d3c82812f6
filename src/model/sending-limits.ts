/**
 * Sending limits, pure: "100/hour,500rcpt/day" parsed, and the window
 * arithmetic over a ledger of what was sent. No I/O: the ledger lives in the
 * spool (src/spool/send-ledger.ts), the flush consults it through
 * src/delivery/sending-limiter.ts.
 *
 *   N/unit       at most N messages (SMTP transactions) per unit
 *   Nrcpt/unit   at most N recipients per unit
 *   unit         second, minute, hour or day
 *
 * Windows are sliding: a limit of 100/hour allows a transaction at time t
 * when fewer than 100 were sent in (t - 1 hour, t]. That is how Gmail and
 * SES count their daily quotas (a rolling 24 hours, not midnight to
 * midnight), so staying under our limit stays under theirs whatever time of
 * day the count started. A transaction of one entry's recipient chunk is one
 * message (Microsoft's "30 messages per minute" counts submissions).
 */
import { configError } from '../errors.js';

export type LimitUnit = 'second' | 'minute' | 'hour' | 'day';

const UNIT_MS: Record<LimitUnit, number> = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };

export interface SendingLimit {
  count: number;
  /** What is counted. */
  of: 'messages' | 'recipients';
  unit: LimitUnit;
  windowMs: number;
  /** As written: "100/hour", "500rcpt/day". */
  text: string;
}

/** One sent transaction, as the ledger keeps it. */
export interface LedgerRecord {
  at: number;
  recipients: number;
}

export function parseLimits(text: string, key = 'limits'): SendingLimit[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const match = /^\s*(\d+)(rcpt)?\/(second|minute|hour|day)\s*$/.exec(part);
    if (match === null) {
      throw configError(`${key}: "${part.trim()}" is not a limit; write N/unit (messages) or Nrcpt/unit (recipients), unit one of second, minute, hour, day; e.g. "100/hour,500rcpt/day"`);
    }
    const count = Number(match[1]);
    if (count < 1) throw configError(`${key}: "${part.trim()}": a limit must allow at least 1`);
    const unit = match[3] as LimitUnit;
    return { count, of: match[2] ? 'recipients' : 'messages', unit, windowMs: UNIT_MS[unit], text: part.trim() };
  });
}

/** The longest window: ledger records older than this count for nothing. */
export function longestWindowMs(limits: readonly SendingLimit[]): number {
  return limits.reduce((max, l) => Math.max(max, l.windowMs), 0);
}

function usedIn(limit: SendingLimit, ledger: readonly LedgerRecord[], now: number): number {
  let used = 0;
  for (const r of ledger) if (r.at > now - limit.windowMs) used += limit.of === 'messages' ? 1 : r.recipients;
  return used;
}

/**
 * How many recipients one more transaction may carry now: 0 when some
 * limit is reached (then `blockedBy` names it), Infinity when no recipient
 * limit applies.
 */
export function capacityNow(
  limits: readonly SendingLimit[],
  ledger: readonly LedgerRecord[],
  now: number,
): { recipients: number; blockedBy: SendingLimit | null } {
  let recipients = Number.POSITIVE_INFINITY;
  for (const limit of limits) {
    const left = limit.count - usedIn(limit, ledger, now);
    if (left <= 0) return { recipients: 0, blockedBy: limit };
    if (limit.of === 'recipients') recipients = Math.min(recipients, left);
  }
  return { recipients, blockedBy: null };
}

/**
 * When the blocking limit lets one more transaction (of one recipient)
 * through: the moment enough of the window's records have aged out.
 */
export function resumeAt(limit: SendingLimit, ledger: readonly LedgerRecord[], now: number): number {
  const inWindow = ledger.filter((r) => r.at > now - limit.windowMs).sort((a, b) => a.at - b.at);
  let used = inWindow.reduce((n, r) => n + (limit.of === 'messages' ? 1 : r.recipients), 0);
  for (const r of inWindow) {
    used -= limit.of === 'messages' ? 1 : r.recipients;
    if (used < limit.count) return r.at + limit.windowMs;
  }
  return now;
}
