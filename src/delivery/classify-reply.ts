/**
 * Reply classification, pure: what one SMTP transaction's result means for
 * each of its recipients (Postfix's smtp_rcpt.c in a page).
 *
 *   2xx to RCPT and to the final dot      sent
 *   4xx anywhere                          deferred (backoff grows)
 *   5xx anywhere                          failed (a DSN goes to the sender)
 *   421, or no reply at all (connection
 *   lost, timeout, TLS or protocol error) interrupted: due again at once;
 *                                         possibleDuplicate when it broke after
 *                                         the envelope was accepted
 *
 * The input is the plain shape of nodemailer's result and error objects, so
 * this file needs no network to test.
 */
import type { RecipientOutcome } from '../model/transitions.js';
import { isTooManyConnections } from '../model/connection-cap.js';
import { BulkmailerError, ExitCode } from '../errors.js';

/** The fields of a nodemailer send() error that classification reads. */
export interface SendErrorLike {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number | false;
  message: string;
  rejectedErrors?: SendErrorLike[];
  recipient?: string;
}

export interface SendInfoLike {
  accepted: string[];
  rejected: string[];
  rejectedErrors?: SendErrorLike[];
  response: string;
}

/** The outcome of a reply; `command`, the one it answered (nodemailer's error.command), is kept when known. */
export function outcomeForReply(address: string, code: number, reply: string, command?: string): RecipientOutcome {
  const kind = code >= 200 && code < 300 ? 'sent' : code === 421 ? 'interrupted' : code >= 400 && code < 500 ? 'deferred' : 'failed';
  return command === undefined ? { address, kind, reply } : { address, kind, reply, command };
}

function replyCodeOf(err: SendErrorLike): number | null {
  if (typeof err.responseCode === 'number' && err.responseCode > 0) return err.responseCode;
  const match = /^(\d{3})[ -]/.exec(err.response ?? '');
  return match ? Number(match[1]) : null;
}

function replyText(err: SendErrorLike): string {
  const text = (err.response ?? err.message).trim();
  return err.command && err.response ? `${text} (in reply to ${err.command})` : text;
}

/** Per-recipient outcomes of rejected RCPTs (from a success or an all-rejected error). */
function rejectedOutcomes(errors: readonly SendErrorLike[]): Map<string, RecipientOutcome> {
  const out = new Map<string, RecipientOutcome>();
  for (const e of errors) {
    if (e.recipient === undefined) continue;
    const code = replyCodeOf(e) ?? 451;
    out.set(e.recipient, outcomeForReply(e.recipient, code, replyText(e), e.command));
  }
  return out;
}

/** The transaction succeeded (the final dot got 2xx) for the accepted recipients. */
export function classifySuccess(recipients: readonly string[], info: SendInfoLike): RecipientOutcome[] {
  const rejected = rejectedOutcomes(info.rejectedErrors ?? []);
  const reply = info.response.trim();
  return recipients.map((address) => rejected.get(address) ?? { address, kind: 'sent', reply });
}

/**
 * The transaction failed. `envelopeAccepted` tells whether the smarthost had
 * accepted recipients before it broke (then the message may have been
 * delivered even though no reply came: a possible duplicate).
 */
export function classifyFailure(
  recipients: readonly string[],
  err: SendErrorLike,
  envelopeAccepted: boolean,
): RecipientOutcome[] {
  const code = replyCodeOf(err);
  if (code !== null) {
    const rejected = rejectedOutcomes(err.rejectedErrors ?? []);
    const reply = replyText(err);
    return recipients.map((address) => rejected.get(address) ?? outcomeForReply(address, code, reply, err.command));
  }
  // No reply code: decided locally by nodemailer, or the link broke.
  if (err.code === 'EMESSAGE' && err.command === 'MAIL FROM') {
    // The message is larger than the SIZE the smarthost announced.
    const reply = `552 5.3.4 ${err.message}`;
    return recipients.map((address) => ({ address, kind: 'failed', reply }));
  }
  if (err.code === 'EENVELOPE' && err.command === 'API') {
    const reply = `553 5.1.3 ${err.message}`;
    return recipients.map((address) => ({ address, kind: 'failed', reply }));
  }
  const reply = `connection lost: ${err.message}${envelopeAccepted ? ' (possible duplicate)' : ''}`;
  return recipients.map((address) => ({ address, kind: 'interrupted', reply, possibleDuplicate: envelopeAccepted }));
}

/** True when the connection can carry another transaction after this outcome. */
export function connectionUsableAfter(outcomes: readonly RecipientOutcome[]): boolean {
  return !outcomes.some((o) => o.kind === 'interrupted');
}

/** The code of a session refused as one connection too many (src/model/connection-cap.ts). */
export const E_TOO_MANY_SESSIONS = 'E_TOO_MANY_SESSIONS';

/**
 * A session refused as one connection too many. `reply` is the server's
 * reply that refused it, kept here where it is known, for the figure it
 * teaches (src/delivery/deliver-batch.ts).
 */
export class TooManySessionsError extends BulkmailerError {
  constructor(
    display: string,
    readonly reply: string,
    cause?: unknown,
  ) {
    super(E_TOO_MANY_SESSIONS, `${display} refused one more connection: ${reply}`, { exitCode: ExitCode.tempFail, cause });
  }
}

/**
 * A failure to set a session up (greeting, EHLO, AUTH) whose reply refuses
 * one more connection (421, 432 4.3.2, "too many connections"), as the
 * error the batch acts on; null for any other failure.
 */
export function tooManySessions(display: string, err: unknown): TooManySessionsError | null {
  const reply = (err as SendErrorLike | null)?.response;
  if (typeof reply !== 'string' || !isTooManyConnections(reply)) return null;
  return new TooManySessionsError(display, reply, err);
}
