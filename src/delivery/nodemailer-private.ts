/**
 * The one place that reads nodemailer's private state. SMTPConnection does
 * not tell a failed send's callback which recipients the smarthost had
 * already accepted, nor which extensions it offered; both matter:
 *
 *   - accepted recipients (`_envelope.accepted`) decide whether a link that
 *     broke during DATA may have delivered: if any recipient was accepted,
 *     the transaction counts as attempted and its recipients stay pending
 *     (promise 3: a possible duplicate rather than a loss); if none was, no
 *     attempt happened (promise 4);
 *   - the per-recipient replies gathered before a 421 (`_envelope.rejectedErrors`);
 *   - the EHLO extensions (`_supportedExtensions`): SMTPUTF8;
 *   - the socket (`_socket`), only to cork it while a held message and its
 *     final dot are written, so they leave in one writev instead of two
 *     writes (and the smarthost wakes once): nodemailer's DataStream writes
 *     them separately.
 *
 * Reading them anywhere else is refused by review; the shapes are checked
 * against the installed nodemailer by test/delivery/nodemailer-private.test.ts,
 * which fails if an upgrade renames or reshapes them. Never throws: a field
 * that is missing or malformed reads as "nothing known" (no recipient
 * accepted, no extension offered, no socket to cork: two writes as
 * before), the conservative answer for promise 4's side only when
 * nodemailer changed, which the test catches first.
 */
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { SendErrorLike } from './classify-reply.js';

/** What the smarthost has said so far in the transaction in flight (or the last one). */
export interface TransactionSoFar {
  accepted: string[];
  rejectedErrors: SendErrorLike[];
}

interface PrivateFields {
  _envelope?: unknown;
  _supportedExtensions?: unknown;
  _socket?: unknown;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The envelope nodemailer keeps for the transaction in flight; null when it has none. */
export function transactionSoFar(connection: SMTPConnection): TransactionSoFar | null {
  const envelope = (connection as unknown as PrivateFields)._envelope;
  if (typeof envelope !== 'object' || envelope === null) return null;
  const { accepted, rejectedErrors } = envelope as { accepted?: unknown; rejectedErrors?: unknown };
  return {
    accepted: stringsOf(accepted),
    rejectedErrors: Array.isArray(rejectedErrors)
      ? rejectedErrors.filter((e): e is SendErrorLike => typeof e === 'object' && e !== null && typeof (e as SendErrorLike).message === 'string')
      : [],
  };
}

/** The extensions the smarthost announced in its EHLO reply (upper case, e.g. "SMTPUTF8"). */
export function offeredExtensions(connection: SMTPConnection): string[] {
  return stringsOf((connection as unknown as PrivateFields)._supportedExtensions);
}

/**
 * Corks the connection's socket until the next turn of the event loop
 * (setImmediate): what nodemailer writes meanwhile (the message, then its
 * final dot, each a few ticks apart) leaves in one writev. Answers whether
 * there was a socket to cork.
 */
export function corkUntilNextTurn(connection: SMTPConnection): boolean {
  const socket = (connection as unknown as PrivateFields)._socket as { cork?: unknown; uncork?: unknown; destroyed?: unknown } | undefined;
  if (typeof socket !== 'object' || socket === null || typeof socket.cork !== 'function' || typeof socket.uncork !== 'function') return false;
  if (socket.destroyed === true) return false;
  const corked = socket as { cork(): void; uncork(): void };
  corked.cork();
  setImmediate(() => corked.uncork());
  return true;
}
