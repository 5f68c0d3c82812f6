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
 *   - the EHLO extensions (`_supportedExtensions`): SMTPUTF8.
 *
 * Reading them anywhere else is refused by review; the shapes are checked
 * against the installed nodemailer by test/delivery/nodemailer-private.test.ts,
 * which fails if an upgrade renames or reshapes them. Never throws: a field
 * that is missing or malformed reads as "nothing known" (no recipient
 * accepted, no extension offered), the conservative answer for promise 4's
 * side only when nodemailer changed, which the test catches first.
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
