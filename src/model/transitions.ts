/**
 * State transitions of an entry: pure functions from (state, outcome, now)
 * to a new state. The flush records their result durably before the next
 * transaction on the same entry (promise 3); the CLI uses the same
 * functions for retry/hold/release, so there is one definition of each move.
 */
import type { EntryState, RecipientState } from './entry-state.js';
import { backoffDelay, type RetryPolicy } from './retry-policy.js';
import { plural } from '../text.js';

/**
 * What one SMTP transaction did to one recipient.
 *  - sent: 2xx for RCPT and for the message
 *  - deferred: a 4xx reply (to RCPT, DATA or the final dot)
 *  - failed: a 5xx reply
 *  - interrupted: no reply came (connection lost, timeout); the link's
 *    fault, not the message's, so it is due again at once, without backoff.
 *    When it broke after the message was sent, `possibleDuplicate` is set.
 */
export type OutcomeKind = 'sent' | 'deferred' | 'failed' | 'interrupted';

export interface RecipientOutcome {
  address: string;
  kind: OutcomeKind;
  /** The SMTP reply ("250 2.0.0 Ok") or a description of what broke. */
  reply: string;
  /**
   * The command a refusal answered, as nodemailer names it on its error
   * ('MAIL FROM', 'RCPT TO', 'DATA'...); absent for a reply to the final
   * dot, or when no reply came. The reply text says it too, for people.
   */
  command?: string;
  possibleDuplicate?: boolean;
}

/** A recipient that became final in a transition, for the delivery log. */
export interface FinalOutcome {
  address: string;
  status: 'sent' | 'failed';
  reply: string;
  attempts: number;
  expired: boolean;
  /** An earlier transaction to this recipient may also have been delivered. */
  possibleDuplicate: boolean;
}

export interface TransitionResult {
  state: EntryState;
  finals: FinalOutcome[];
}

/**
 * Applies the outcomes of one transaction. Recipients not named are left
 * as they are (they may have been changed by another command meanwhile:
 * the caller merges into a freshly read state). Final recipients never move.
 */
export function applyOutcomes(
  state: EntryState,
  outcomes: readonly RecipientOutcome[],
  now: number,
  policy: RetryPolicy,
): TransitionResult {
  const byAddress = new Map(outcomes.map((o) => [o.address, o]));
  const finals: FinalOutcome[] = [];
  const nowIso = new Date(now).toISOString();
  const recipients = state.recipients.map((r): RecipientState => {
    const outcome = byAddress.get(r.address);
    if (outcome === undefined || r.status === 'sent' || r.status === 'failed') return r;
    byAddress.delete(r.address); // a duplicated address in the envelope is counted once
    const attempts = r.attempts + 1;
    const counted = countedAge(r, now, policy);
    const possibleDuplicate = r.possibleDuplicate === true || outcome.possibleDuplicate === true;
    const base = { ...r, attempts, lastAttemptAt: nowIso, lastReply: outcome.reply, ...(possibleDuplicate ? { possibleDuplicate } : {}) };
    // A duplicate is possible for this recipient if this or an earlier transaction left one behind.
    const dup = r.possibleDuplicate === true;
    switch (outcome.kind) {
      case 'sent':
        finals.push({ address: r.address, status: 'sent', reply: outcome.reply, attempts, expired: false, possibleDuplicate: dup });
        return { ...base, status: 'sent', nextAttemptAt: null };
      case 'failed':
        finals.push({ address: r.address, status: 'failed', reply: outcome.reply, attempts, expired: false, possibleDuplicate: dup });
        return { ...base, status: 'failed', nextAttemptAt: null };
      case 'deferred':
      case 'interrupted': {
        const retryAgeMs = r.retryAgeMs + counted;
        if (retryAgeMs >= policy.lifetimeMs) {
          const reply = `expired after ${plural(attempts, 'attempt')}; last reply: ${outcome.reply}`;
          finals.push({ address: r.address, status: 'failed', reply, attempts, expired: true, possibleDuplicate: dup });
          return { ...base, status: 'failed', nextAttemptAt: null, lastReply: reply, retryAgeMs };
        }
        const delay = outcome.kind === 'deferred' ? backoffDelay(attempts, policy) : 0;
        return {
          ...base,
          status: 'deferred',
          nextAttemptAt: delay === 0 ? null : new Date(now + delay).toISOString(),
          retryAgeMs,
        };
      }
    }
  });
  return { state: { ...state, recipients }, finals };
}

/**
 * The time since the last attempt that counts toward the lifetime: at most
 * the backoff interval the schedule intended, so time spent offline, asleep,
 * or with no flush running adds nothing beyond it.
 */
function countedAge(r: RecipientState, now: number, policy: RetryPolicy): number {
  if (r.lastAttemptAt === null) return 0;
  const elapsed = Math.max(0, now - Date.parse(r.lastAttemptAt));
  return Math.min(elapsed, backoffDelay(Math.max(1, r.attempts), policy));
}

/** `retry`: deferred recipients become due now. Returns how many changed. */
export function makeDueNow(state: EntryState): { state: EntryState; changed: number } {
  let changed = 0;
  const recipients = state.recipients.map((r) => {
    if (r.status !== 'deferred' || r.nextAttemptAt === null) return r;
    changed++;
    return { ...r, nextAttemptAt: null };
  });
  return { state: { ...state, recipients }, changed };
}

export function setHeld(state: EntryState, held: boolean): EntryState {
  return { ...state, held };
}

/** Marks failed recipients as reported once their DSN is durably queued. */
export function markDsnQueued(state: EntryState, addresses: readonly string[]): EntryState {
  const set = new Set(addresses);
  return {
    ...state,
    recipients: state.recipients.map((r) => (r.status === 'failed' && set.has(r.address) ? { ...r, dsnQueued: true } : r)),
  };
}

/** The reply recorded for a recipient whose transaction a crash interrupted. */
export const CRASH_REPLY = 'the flusher stopped (crash or kill) during this transaction; it may have been delivered (possible duplicate)';

/**
 * Recovery after a crash: the recipients of a transaction that began (its
 * journal line is durable) but whose outcome was never recorded, which is
 * when their `attempts` still equal the count the journal noted. They are
 * marked as after a connection lost past the dot: the attempt counts, they
 * are due again at once, and `possibleDuplicate` is set. Retry age does not
 * grow (no reply came; the lifetime is judged at the next real attempt).
 * With `hold`, the entry is held for the user to review. Applying the same
 * journal line twice changes nothing the second time (attempts moved on).
 */
export function markInterruptedByCrash(
  state: EntryState,
  recipients: readonly (readonly [address: string, attempts: number])[],
  at: number,
  hold: boolean,
): { state: EntryState; marked: string[] } {
  const noted = new Map(recipients.map(([address, attempts]) => [address, attempts]));
  const marked: string[] = [];
  const atIso = new Date(at).toISOString();
  const next = state.recipients.map((r): RecipientState => {
    if (r.status === 'sent' || r.status === 'failed' || noted.get(r.address) !== r.attempts) return r;
    noted.delete(r.address);
    marked.push(r.address);
    return {
      ...r,
      status: 'deferred',
      attempts: r.attempts + 1,
      lastAttemptAt: atIso,
      nextAttemptAt: null,
      lastReply: CRASH_REPLY,
      possibleDuplicate: true,
    };
  });
  if (marked.length === 0) return { state, marked };
  return { state: { ...state, recipients: next, held: state.held || hold }, marked };
}

/** Records that the delay warning went (queued durably first: a crash between the two sends it twice, never not at all). */
export function markDelayWarned(state: EntryState): EntryState {
  return { ...state, delayWarned: true };
}
