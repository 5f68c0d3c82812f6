/**
 * Recipients per transaction, learnt from the smarthost (issue 8 item 6).
 * Pure: what a reply means and what figure to keep: the parsing of the
 * `recipients` kind of learnt figure (learnt-figure.ts keeps the rest).
 *
 * RFC 5321 4.5.3.1.10: a server that takes fewer recipients per
 * transaction than it was sent answers the extra RCPTs with 452 (RFC 3463:
 * 4.5.3 "too many recipients"), and the client sends them in another
 * transaction. Those recipients were not refused: they go in the next
 * transaction at once, with no attempt counted and no backoff, and the
 * account sends that many recipients per transaction from then on (the
 * rest of the flush and later flushes), so the provider is not asked twice.
 *
 * A 452 that names another cause (4.2.2 mailbox full, 4.3.1 out of storage)
 * is an ordinary deferral of that recipient.
 */
import type { RecipientOutcome } from './transitions.js';

const ENHANCED = /^452[ -](\d\.\d{1,3}\.\d{1,3})\b/;

/**
 * Is this outcome the server's "too many recipients" to a RCPT (the
 * command nodemailer's error names, kept on the outcome)? With an
 * enhanced status code it must be 4.5.3; without one, the words "too many
 * recipients", or a 452 after the server accepted others in the same
 * transaction (RFC 5321's own signal), say so.
 */
export function isTooManyRecipients(outcome: RecipientOutcome, acceptedInTransaction: number): boolean {
  if (outcome.kind !== 'deferred' || outcome.command !== 'RCPT TO' || !outcome.reply.startsWith('452')) return false;
  const enhanced = ENHANCED.exec(outcome.reply);
  if (enhanced !== null) return enhanced[1] === '4.5.3';
  return /too many recipients/i.test(outcome.reply) || acceptedInTransaction > 0;
}

/**
 * Splits a transaction's outcomes: the recipients the server put off for
 * "too many recipients" (to send again at once) and the outcomes that
 * stand; `learnt` is the figure to keep and the reply that taught it (the
 * first put-off recipient's), or null when the transaction said nothing
 * about it.
 */
export function splitTooManyRecipients(
  outcomes: readonly RecipientOutcome[],
  sent: number,
): { putOff: string[]; standing: RecipientOutcome[]; learnt: { max: number; reply: string } | null } {
  const accepted = outcomes.filter((o) => o.kind === 'sent').length;
  // A bare 452 (no enhanced code, no wording) means "too many" only as RFC
  // 5321 sends it: to the last RCPTs, none accepted after the first one. A
  // 452 to one recipient amid accepted ones (a full mailbox) is that
  // recipient's deferral, not a fact about the account.
  const first = outcomes.findIndex((o) => isTooManyRecipients(o, accepted));
  const tail = first >= 0 && !outcomes.slice(first).some((o) => o.kind === 'sent');
  const putOff = outcomes.filter((o) => isTooManyRecipients(o, tail ? accepted : 0));
  if (putOff.length === 0) return { putOff: [], standing: [...outcomes], learnt: null };
  const max = lowerCap(sent, accepted);
  if (max === null) return { putOff: [], standing: [...outcomes], learnt: null };
  return { putOff: putOff.map((o) => o.address), standing: outcomes.filter((o) => !putOff.includes(o)), learnt: { max, reply: putOff[0]!.reply } };
}

/**
 * The figure after a transaction of `sent` recipients of which the server
 * accepted `accepted` before saying "too many": what it accepted; when it
 * accepted none, half (a server that counts across transactions, or counts
 * differently). Null when it cannot go lower (one recipient refused as too
 * many is no limit we can meet: an ordinary deferral).
 */
export function lowerCap(sent: number, accepted: number): number | null {
  if (accepted > 0) return accepted < sent ? accepted : null;
  return sent > 1 ? Math.floor(sent / 2) : null;
}
