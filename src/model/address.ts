/**
 * Envelope addresses: what may go into MAIL FROM and RCPT TO.
 *
 * Deliberately plain: local@domain with no white space, no angle brackets
 * and no control characters (which would let one address smuggle an SMTP
 * command into the session). UTF-8 is allowed (SMTPUTF8). Display names and
 * comments belong to headers, not to the envelope; header parsing lives in
 * src/message.
 */
import { dataError } from '../errors.js';

// eslint-disable-next-line no-control-regex
const ENVELOPE_ADDRESS = /^[^\s<>@\u0000-\u001f\u007f]+@[^\s<>@\u0000-\u001f\u007f]+$/;
const MAX_ADDRESS_LENGTH = 320;

export function isEnvelopeAddress(address: string): boolean {
  return address.length <= MAX_ADDRESS_LENGTH && ENVELOPE_ADDRESS.test(address);
}

/** Lower-cases the domain (local parts may be case-sensitive). */
export function normalizeAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at) + address.slice(at).toLowerCase();
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** Throws E_BAD_ADDRESS (exit 65) naming the first bad address. */
export function checkEnvelopeAddress(address: string, role: 'sender' | 'recipient'): string {
  if (!isEnvelopeAddress(address)) {
    throw dataError(`bad ${role} address: ${JSON.stringify(address)} (expected local@domain)`, 'E_BAD_ADDRESS');
  }
  return normalizeAddress(address);
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
