/**
 * The header fields a submission adds when the message lacks them: Date
 * (RFC 5322 date-time in local time), Message-ID (unique: time + 96 random
 * bits, at the sender's domain) and From. Pure formatting; never throws.
 */
import { randomBytes } from 'node:crypto';
import { DAYS, MONTHS, pad2 as two } from '../text.js';
import { encodeDisplayName } from './encoded-words.js';

/** "Tue, 01 Jul 2025 14:03:09 +0200" (local time): the one RFC 5322 date-time formatter, for Date: and DSN fields. */
export function formatRfc5322Date(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${DAYS[date.getDay()]}, ${two(date.getDate())} ${MONTHS[date.getMonth()]} ${date.getFullYear()} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}

/** "<lzx3k1.9f2c...@example.org>"; the domain is the sender's (never "localhost" when avoidable). */
export function newMessageId(domain: string, now: number = Date.now()): string {
  const safeDomain = /^[A-Za-z0-9.-]+$/.test(domain) && domain !== '' ? domain : 'bulkmailer.invalid';
  return `<${now.toString(36)}.${randomBytes(12).toString('hex')}@${safeDomain}>`;
}

/** "Full Name <user@host>", or just the address. */
export function formatFromValue(address: string, fullName: string | null): string {
  if (fullName === null || fullName.trim() === '') return address;
  return `${encodeDisplayName(fullName.trim())} <${address}>`;
}
