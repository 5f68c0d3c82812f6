/**
 * An account on hold: the smarthost refused the account, not a recipient
 * (promise 6). Pure types and decisions, no I/O; the record lives in the
 * spool (src/spool/account-holds.ts) so every process sees it.
 *
 * Two families, one record:
 *
 *   paused by the provider   quota, rate, throttle: the provider said "not
 *                            now"; the hold lifts by itself at `until`
 *                            (the provider's window is likely over)
 *   held by a sending limit  limit: our own limit (config `limits`) is
 *                            reached; `until` is when its window frees
 *   needs you                auth, sender, tls, dns: it will not fix itself;
 *                            the hold lifts when the account's settings
 *                            change (`fingerprint`), on `retry --all`, or at
 *                            `until` (a slow recheck: a password kept in a
 *                            keyring may change without our config changing)
 *
 * Either way every recipient stays pending: no attempt counted, no backoff
 * grown, no DSN made, nothing aged toward expiry.
 */
import { ExitCode } from '../errors.js';

export type HoldKind = 'quota' | 'rate' | 'throttle' | 'limit' | 'auth' | 'sender' | 'tls' | 'dns';

export const HOLD_KINDS: readonly HoldKind[] = ['quota', 'rate', 'throttle', 'limit', 'auth', 'sender', 'tls', 'dns'];

export interface AccountHold {
  version: 1;
  /** The account's name ("default": the top-level smarthost). */
  account: string;
  kind: HoldKind;
  /** The server's reply (or what failed), never a password. */
  reply: string;
  /** The reply-table rule that matched (src/delivery/account-replies.ts), or the limit ("100/hour"). */
  rule: string | null;
  /** ISO time the refusal came. */
  since: string;
  /** ISO time the hold lifts by itself. */
  until: string;
  /** The account's settings when it was held: a change lifts a needs-you hold. */
  fingerprint: string | null;
}

/** How long each kind of hold lasts before trying again (config `pauses.*`; the defaults are argued in src/config/schema.ts). */
export interface HoldPolicy {
  /** A daily quota (Gmail 5.4.5, SES daily quota, Microsoft SubmissionQuotaExceeded). */
  quotaMs: number;
  /** A per-second or per-minute rate. */
  rateMs: number;
  /** A 421 "try again later" / "too many messages". */
  throttleMs: number;
  /** Needs-you holds: how often to look again without being asked. */
  recheckMs: number;
}

/** Lifts by itself (a provider's pause, a sending limit's window): no user action needed. */
export function isProviderPause(kind: HoldKind): boolean {
  return kind === 'quota' || kind === 'rate' || kind === 'throttle' || kind === 'limit';
}

export function holdDurationMs(kind: HoldKind, policy: HoldPolicy): number {
  switch (kind) {
    case 'quota':
      return policy.quotaMs;
    case 'rate':
      return policy.rateMs;
    case 'throttle':
      return policy.throttleMs;
    case 'limit': // the limiter gives `until`; this is only a fallback
      return policy.rateMs;
    case 'auth':
    case 'sender':
    case 'tls':
    case 'dns':
      return policy.recheckMs;
  }
}

export function newHold(
  refusal: { account: string; kind: HoldKind; reply: string; rule: string | null; until?: number },
  now: number,
  policy: HoldPolicy,
  fingerprint: string | null,
): AccountHold {
  return {
    version: 1,
    account: refusal.account,
    kind: refusal.kind,
    reply: refusal.reply,
    rule: refusal.rule,
    since: new Date(now).toISOString(),
    until: new Date(refusal.until ?? now + holdDurationMs(refusal.kind, policy)).toISOString(),
    fingerprint: isProviderPause(refusal.kind) ? null : fingerprint,
  };
}

/** Still in force: before `until`, and (for needs-you holds) the settings unchanged. */
export function isHoldActive(hold: AccountHold, now: number, fingerprint: string | null): boolean {
  if (Date.parse(hold.until) <= now) return false;
  if (hold.fingerprint !== null && fingerprint !== null && hold.fingerprint !== fingerprint) return false;
  return true;
}

/**
 * The flush's exit status while an account is held (sysexits): a provider
 * pause is temporary (75); refused credentials or sender need permission
 * (77); a TLS failure is a protocol problem (76); a smarthost name that does
 * not resolve is EX_NOHOST (68). docs/cli.md lists them.
 */
export function holdExitCode(kind: HoldKind): ExitCode {
  switch (kind) {
    case 'quota':
    case 'rate':
    case 'throttle':
    case 'limit':
      return ExitCode.tempFail;
    case 'auth':
    case 'sender':
      return ExitCode.noPerm;
    case 'tls':
      return ExitCode.protocol;
    case 'dns':
      return ExitCode.noHost;
  }
}

/** What the hold is, in a few words ("paused by the provider: daily quota"). */
export function holdTitle(kind: HoldKind): string {
  switch (kind) {
    case 'quota':
      return 'paused by the provider: sending quota reached';
    case 'rate':
      return 'paused by the provider: sending rate exceeded';
    case 'throttle':
      return 'paused by the provider: asked to try again later';
    case 'limit':
      return 'held by the sending limit';
    case 'auth':
      return 'held: the smarthost refused authentication';
    case 'sender':
      return 'held: the smarthost refused the sender (MAIL FROM)';
    case 'tls':
      return 'held: TLS with the smarthost failed';
    case 'dns':
      return 'held: the smarthost name does not resolve (the internet is reachable)';
  }
}

/** One thing to do about it. */
export function holdFix(kind: HoldKind): string {
  switch (kind) {
    case 'quota':
    case 'rate':
    case 'throttle':
      return 'nothing: delivery resumes by itself; set limits for this account to stay under the provider\'s cap; `bulkmailer retry --all` tries now';
    case 'limit':
      return 'nothing: delivery resumes when the window frees; raise `limits` to send more';
    case 'auth':
      return 'check the user and password (auth.*, or the URL; some providers need an app password), then `bulkmailer retry --all`; an OAuth2 account (auth.method oauth2) whose token was refused: `bulkmailer account login NAME`, which lifts the hold';
    case 'sender':
      return 'send from an address this account may use (or allow it at the provider), then `bulkmailer retry --all`';
    case 'tls':
      return 'check the host name in the smarthost URL and tls.caFile (`bulkmailer doctor` shows the certificate), then `bulkmailer retry --all`';
    case 'dns':
      return 'check the spelling of the smarthost host name (`bulkmailer config get smarthost`), then `bulkmailer retry --all`';
  }
}
