/**
 * The shape of a doctor check and its result. Every failed (or warning)
 * check carries a fix: one concrete thing to do. Checks never throw: a
 * check that cannot run reports `skip` with the reason.
 */

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable machine name: "config", "spool", "smarthost.tls"... */
  id: string;
  /** What was checked, for humans ("smtp://mail.example.net:587: STARTTLS"). */
  title: string;
  status: CheckStatus;
  /** What was found. Never contains a password. */
  detail: string;
  /** What to do about it (always set for warn and fail). */
  fix: string | null;
}

export function pass(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'pass', detail, fix: null };
}

export function warn(id: string, title: string, detail: string, fix: string): CheckResult {
  return { id, title, status: 'warn', detail, fix };
}

export function fail(id: string, title: string, detail: string, fix: string): CheckResult {
  return { id, title, status: 'fail', detail, fix };
}

export function skip(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'skip', detail, fix: null };
}

/** Removes every occurrence of the given secrets from a text (belt and braces for server replies). */
export function redactSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}
