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
  possibleDuplicate?: boolean;
}

/** A recipient that became final in a transition, for the delivery log. */
export interface FinalOutcome {
  address: string;
  status: 'sent' | 'failed';
  reply: string;
  attempts: number;
  expired: boolean;
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
    const base = { ...r, attempts, lastAttemptAt: nowIso, lastReply: outcome.reply };
    switch (outcome.kind) {
      case 'sent':
        finals.push({ address: r.address, status: 'sent', reply: outcome.reply, attempts, expired: false });
        return { ...base, status: 'sent', nextAttemptAt: null };
      case 'failed':
        finals.push({ address: r.address, status: 'failed', reply: outcome.reply, attempts, expired: false });
        return { ...base, status: 'failed', nextAttemptAt: null };
      case 'deferred':
      case 'interrupted': {
        const retryAgeMs = r.retryAgeMs + counted;
        if (retryAgeMs >= policy.lifetimeMs) {
          const reply = `expired after ${plural(attempts, 'attempt')}; last reply: ${outcome.reply}`;
          finals.push({ address: r.address, status: 'failed', reply, attempts, expired: true });
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
