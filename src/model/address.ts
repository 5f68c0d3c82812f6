/**
 * Envelope addresses: what may go into MAIL FROM and RCPT TO.
 *
 * Deliberately plain: local@domain with no white space, no angle brackets
 * and no control characters (which would let one address smuggle an SMTP
 * command into the session), and a domain of dot-separated non-empty labels
 * (or an [address literal]). One pair of angle brackets around the whole
 * address, as users copy it from headers (`<bob@example.org>`), is taken
 * off. No leading '-' (Postfix's allow_min_user = no): such an address
 * reads as an option on the next program's command line, and
 * `sendmail -- -f x` is a mistake, not mail for "-f@domain". UTF-8 is
 * allowed (SMTPUTF8). Display names and
 * comments belong to headers, not to the envelope; header parsing lives in
 * src/message.
 */
import { domainToASCII } from 'node:url';
import { dataError } from '../errors.js';

// eslint-disable-next-line no-control-regex
const ENVELOPE_ADDRESS = /^[^\s<>@\u0000-\u001f\u007f]+@[^\s<>@\u0000-\u001f\u007f]+$/;
const MAX_ADDRESS_LENGTH = 320;
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\u0000-\u007f]/;

/** Labels of letters, digits, hyphens or UTF-8, none empty: refuses `example..org`, `.org`, `org.`. */
const DOMAIN = /^(?:[^.\s<>@\[\]\u0000-\u001f\u007f]+\.)*[^.\s<>@\[\]\u0000-\u001f\u007f]+$/;
const ADDRESS_LITERAL = /^\[[^\s\[\]\u0000-\u001f\u007f]+\]$/;

export function isEnvelopeAddress(address: string): boolean {
  if (address.length > MAX_ADDRESS_LENGTH || address.startsWith('-') || !ENVELOPE_ADDRESS.test(address)) return false;
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return DOMAIN.test(domain) || ADDRESS_LITERAL.test(domain);
}

/** `<bob@example.org>` -> `bob@example.org`; anything else unchanged. */
export function stripAngleBrackets(address: string): string {
  const trimmed = address.trim();
  return trimmed.length > 2 && trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : address;
}

/**
 * Lower-cases the domain (local parts may be case-sensitive) and writes an
 * internationalized domain as A-labels (bücher.example -> xn--bcher-kva.example,
 * UTS #46 as in browsers): the same domain, which any smarthost can take
 * without SMTPUTF8. Only a non-ASCII local part still needs SMTPUTF8 (see
 * src/delivery/smtp-session.ts).
 */
export function normalizeAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  return `${address.slice(0, at)}@${NON_ASCII.test(domain) ? domainToASCII(domain) : domain.toLowerCase()}`;
}

/** True when the address needs SMTPUTF8 to travel (a non-ASCII local part or domain). */
export function needsSmtpUtf8(address: string): boolean {
  return NON_ASCII.test(address);
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Throws E_BAD_ADDRESS (exit 65) naming the first bad address. */
export function checkEnvelopeAddress(typed: string, role: 'sender' | 'recipient'): string {
  const address = stripAngleBrackets(typed);
  if (address.startsWith('-')) {
    throw dataError(`bad ${role} address: ${JSON.stringify(typed)} begins with "-" (an option given after "--"?)`, 'E_BAD_ADDRESS');
  }
  if (!isEnvelopeAddress(address)) {
    throw dataError(`bad ${role} address: ${JSON.stringify(typed)} (expected local@domain)`, 'E_BAD_ADDRESS');
  }
  const normal = normalizeAddress(address);
  if (normal.endsWith('@')) {
    throw dataError(`bad ${role} address: ${JSON.stringify(address)} (its domain is not a valid internationalized domain name)`, 'E_BAD_ADDRESS');
  }
  return normal;
}

/** Validated, normalized, in order, each address once. */
export function normalizeRecipients(addresses: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const address of addresses) {
    const normal = checkEnvelopeAddress(address, 'recipient');
    if (seen.has(normal)) continue;
    seen.add(normal);
    out.push(normal);
  }
  if (out.length === 0) throw dataError('no recipients', 'E_NO_RECIPIENTS');
  return out;
}
