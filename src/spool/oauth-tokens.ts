/**
 * An OAuth2 account's tokens on disk: spool/accounts/<account>.token.json,
 * mode 0600 in the 0700 spool. It holds the refresh token that `bulkmailer
 * account login` obtained and the latest access token with its expiry, so
 * every process (flush, agent, doctor) shares one token and one refresh.
 *
 * Written durably and atomically through the record store (records.ts:
 * tmp + fsync + rename + directory fsync):
 * a reader sees the old record or the new one, never a torn one, and a
 * refresh token the provider rotated is not lost in a power cut after the
 * provider forgot the old one. Every write creates a new 0600 file and
 * renames it over the old one, so a file loosened by hand is private again
 * after the next refresh (doctor reports it meanwhile).
 *
 * Never read through a symbolic link (ELOOP: refused, like every spool
 * file). Nothing here ever puts a token into an error message. A file that does
 * not parse reads as "no token" (the account then needs a login, which
 * says so), never as an exception that would stop a flush.
 */
import { checkAccountName } from '../model/account-name.js';
import { oauthTokenPath, type Spool } from './paths.js';
import { readJsonRecord, writeJsonRecord } from './records.js';

export interface OAuthTokenRecord {
  version: 1;
  account: string;
  /** Never printed, never logged. */
  refreshToken: string;
  /** The latest access token, or null when none is cached. Never printed. */
  accessToken: string | null;
  /** ISO time the access token expires (as the token endpoint said). */
  expiresAt: string | null;
  /** The token endpoint that issued the refresh token: a changed endpoint needs a new login. */
  tokenUrl: string;
  /** The client the refresh token belongs to (a refresh token works only with its client). */
  clientId: string;
  scope: string | null;
  /** ISO time of the login that obtained the refresh token. */
  loggedInAt: string;
}

function validToken(account: string) {
  return (value: unknown): OAuthTokenRecord | null => {
    const r = value as Partial<OAuthTokenRecord> | null;
    if (r === null || typeof r !== 'object') return null;
    if (r.version !== 1 || r.account !== account) return null;
    if (typeof r.refreshToken !== 'string' || r.refreshToken === '') return null;
    if (typeof r.tokenUrl !== 'string' || typeof r.clientId !== 'string' || typeof r.loggedInAt !== 'string') return null;
    const expiresAt = typeof r.expiresAt === 'string' && !Number.isNaN(Date.parse(r.expiresAt)) ? r.expiresAt : null;
    return {
      version: 1,
      account,
      refreshToken: r.refreshToken,
      accessToken: typeof r.accessToken === 'string' && r.accessToken !== '' && expiresAt !== null ? r.accessToken : null,
      expiresAt,
      tokenUrl: r.tokenUrl,
      clientId: r.clientId,
      scope: typeof r.scope === 'string' ? r.scope : null,
      loggedInAt: r.loggedInAt,
    };
  };
}

/** The account's tokens, or null (never logged in, logged out, or unreadable). */
export function readOAuthToken(spool: Spool, account: string): OAuthTokenRecord | null {
  checkAccountName(account);
  return readJsonRecord(oauthTokenPath(spool, account), `the OAuth2 token of account ${account}`, validToken(account));
}

/** Replaces the account's tokens, durably, mode 0600 (the temp file is created 0600: never readable by others, even briefly). */
export async function writeOAuthToken(spool: Spool, record: OAuthTokenRecord): Promise<void> {
  checkAccountName(record.account);
  await writeJsonRecord(spool, oauthTokenPath(spool, record.account), record, `the OAuth2 token of account ${record.account}`);
}
