/**
 * DKIM signing of outgoing messages by sender domain (nodemailer's signer,
 * relaxed/relaxed, rsa-sha256): direct delivery needs it to be accepted by
 * the big providers. Signing happens as the message is sent, on a stream,
 * so the spool keeps the message as it was accepted (immutable) and a key
 * rotation applies to everything still queued.
 *
 * A message whose envelope sender's domain has no key goes unsigned. The
 * signer fails only on a bad key, which the config loader already refused.
 */
import type { Readable } from 'node:stream';
import DKIM from 'nodemailer/lib/dkim';
import type { DkimKey } from '../config/dkim-keys.js';
import { domainOf } from '../model/address.js';

export type PrepareMessage = (message: Buffer | Readable, from: string) => Buffer | Readable;

/** A function that signs a message for its sender's domain, or null when no key is configured. */
export function dkimSigner(keys: readonly DkimKey[]): PrepareMessage | null {
  if (keys.length === 0) return null;
  const byDomain = new Map(
    keys.map((k) => [k.domain, new DKIM({ domainName: k.domain, keySelector: k.selector, privateKey: k.privateKey })]),
  );
  return (message, from) => {
    const signer = from === '' ? undefined : byDomain.get(domainOf(from).toLowerCase());
    return signer === undefined ? message : signer.sign(message);
  };
}
