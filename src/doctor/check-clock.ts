/**
 * Doctor: the clock is sane. Two honest checks, no network time service:
 * the year is not before bulkmailer existed (a dead RTC battery boots in
 * 1970 or 2000, which makes every certificate "not yet valid" and every
 * backoff wrong), and, when a smarthost greeting carried a date (Exim and
 * Sendmail put one there; Postfix does not), that it is within 5 minutes.
 */
import { pass, fail, warn, type CheckResult } from './check.js';

const MIN_YEAR = 2024;
const MAX_SKEW_MS = 5 * 60_000;
const GREETING_DATE = /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d{2}:\d{2}(?::\d{2})? [+-]\d{4}\b/;

/** The date an SMTP greeting carries, if any (ms since the epoch). */
export function greetingDate(greeting: string | null): number | null {
  const match = greeting === null ? null : GREETING_DATE.exec(greeting);
  if (!match) return null;
  const t = Date.parse(match[0]);
  return Number.isNaN(t) ? null : t;
}

export function checkClock(now: number, smarthostDates: readonly { smarthost: string; date: number }[]): CheckResult {
  const title = 'clock sane';
  const iso = new Date(now).toISOString();
  if (new Date(now).getUTCFullYear() < MIN_YEAR) {
    return fail('clock', title, `the clock says ${iso}`, 'set the system clock (timedatectl set-ntp true, or your OS settings); certificates and retries depend on it');
  }
  for (const { smarthost, date } of smarthostDates) {
    const skew = now - date;
    if (Math.abs(skew) > MAX_SKEW_MS) {
      return warn('clock', title, `the clock says ${iso}; ${smarthost} says ${new Date(date).toISOString()} (${Math.round(skew / 1000)} s apart)`, 'enable time synchronisation (timedatectl set-ntp true, or your OS settings)');
    }
  }
  const compared = smarthostDates.length > 0 ? `, within 5 min of ${smarthostDates[0]?.smarthost}` : ' (no smarthost date to compare with)';
  return pass('clock', title, `${iso}${compared}`);
}
