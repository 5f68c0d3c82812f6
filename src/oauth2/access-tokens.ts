/**
 * Access tokens of one OAuth2 account, for the SMTP sessions of a flush
 * (and doctor): the stored access token while it has more than
 * REFRESH_MARGIN_MS to live, else a new one from the token endpoint with
 * the stored refresh token (RFC 6749 section 6), written back to the token
 * store (src/spool/oauth-tokens.ts) so the next process starts from it.
 *
 * One refresh at a time per account: the sessions of a flush that all find
 * the token stale, or all hear from the smarthost that it expired, wait for
 * the same refresh (`renew` of a token that was already replaced answers
 * the replacement without asking the endpoint again); across processes
 * (a flush and doctor), lock/token-ACCOUNT serializes refreshes and the
 * one that waited uses the token the other stored.
 *
 * Failures are classified where they are raised:
 *   E_AUTH (77, not temporary): the account needs `bulkmailer account
 *     login NAME`: no token stored, the token belongs to another client or
 *     endpoint, or the endpoint answered invalid_grant (revoked, expired,
 *     password changed); or the endpoint refused the client itself
 *     (invalid_client: the config must change). The flush holds the
 *     account (kind auth) with this message as the reason.
 *   E_UNREACHABLE (75): the endpoint cannot be reached or failed (5xx):
 *     like an unreachable smarthost, nothing is counted (promise 4).
 * Tokens never appear in a message.
 */
import { BulkmailerError, ExitCode } from '../errors.js';
import { lockWithin, readOAuthToken, tokenRefreshLockPath, writeOAuthToken, type HeldLock, type OAuthTokenRecord, type Spool } from '../spool/index.js';
import { ENDPOINT_TIMEOUT_MS, callEndpoint, describeEndpointError, issuedTokens, type IssuedTokens } from './token-endpoint.js';
import { clientFields, isClientError } from './login-errors.js';
import { accountKey, type OAuth2Settings } from './settings.js';

/**
 * A token handed to a session must outlive the session's AUTH: the margin
 * MUST stay above timeouts.connect + timeouts.greeting (15s + 15s by
 * default) plus the EHLO/STARTTLS round trips; five minutes also covers a
 * clock a little off from the provider's.
 */
export const REFRESH_MARGIN_MS = 5 * 60_000;

/** Waiting for another process's refresh: MUST stay above ENDPOINT_TIMEOUT_MS (its request) plus the store's fsyncs. */
const REFRESH_LOCK_WAIT_MS = ENDPOINT_TIMEOUT_MS + 15_000;

/** When the endpoint gives no expires_in: the common lifetime (Google and Microsoft issue 3600 s). */
const ASSUMED_LIFETIME_S = 3600;

export interface AccessToken {
  token: string;
  /** Obtained from the endpoint by this call (not read from the store or memory). */
  refreshed: boolean;
}

/** What an SMTP session needs of an account's tokens (AccessTokens is one). */
export interface AccessTokenSource {
  current(): Promise<AccessToken>;
  renew(stale: string): Promise<string>;
}

/** Credentials of an OAuth2 account: the address to authenticate as (XOAUTH2's user=), and its tokens. */
export interface OAuth2Credentials {
  user: string;
  tokens: AccessTokenSource;
}

export function needsLogin(account: string, why: string): BulkmailerError {
  return new BulkmailerError('E_AUTH', `account ${account} needs \`bulkmailer account login ${account}\`: ${why}`, {
    exitCode: ExitCode.noPerm,
    temporary: false,
  });
}

/** The record a login stores: the new refresh token and the first access token. */
export function loginRecord(settings: OAuth2Settings, issued: IssuedTokens, now: number): OAuthTokenRecord {
  if (issued.refreshToken === null) {
    throw new BulkmailerError(
      'E_LOGIN_FAILED',
      `the provider issued no refresh token (${settings.provider?.name === 'microsoft' ? 'the scope needs offline_access' : 'Google: access_type=offline and prompt=consent'}); nothing stored`,
      { exitCode: ExitCode.protocol },
    );
  }
  return {
    version: 1,
    account: settings.account,
    refreshToken: issued.refreshToken,
    accessToken: issued.accessToken,
    expiresAt: new Date(now + (issued.expiresIn ?? ASSUMED_LIFETIME_S) * 1000).toISOString(),
    tokenUrl: settings.tokenUrl,
    clientId: settings.clientId,
    scope: issued.scope ?? settings.scope,
    loggedInAt: new Date(now).toISOString(),
  };
}

export class AccessTokens {
  private cached: { token: string; expiresAt: number } | null = null;
  private refreshing: Promise<string> | null = null;
  /** Refreshes done by this object (for tests and the flush's log). */
  refreshes = 0;

  constructor(
    private readonly spool: Spool,
    private readonly settings: OAuth2Settings,
    private readonly now: () => number = Date.now,
  ) {}

  private usable(expiresAt: number): boolean {
    return expiresAt - REFRESH_MARGIN_MS > this.now();
  }

  /** The stored record, if it belongs to this account's client and endpoint. */
  private record(): OAuthTokenRecord {
    const { account, clientId, tokenUrl } = this.settings;
    const record = readOAuthToken(this.spool, account);
    if (record === null) throw needsLogin(account, 'no OAuth2 token is stored (never logged in, or logged out)');
    if (record.clientId !== clientId || record.tokenUrl !== tokenUrl) {
      throw needsLogin(account, `the stored token belongs to another OAuth2 client or token endpoint (${accountKey(account, 'oauth2.clientId')} or tokenUrl changed since the login)`);
    }
    return record;
  }

  /** A token with at least the margin to live. */
  async current(): Promise<AccessToken> {
    if (this.cached !== null && this.usable(this.cached.expiresAt)) return { token: this.cached.token, refreshed: false };
    const record = this.record();
    if (record.accessToken !== null && record.expiresAt !== null && this.usable(Date.parse(record.expiresAt))) {
      this.cached = { token: record.accessToken, expiresAt: Date.parse(record.expiresAt) };
      return { token: record.accessToken, refreshed: false };
    }
    return { token: await this.refresh(), refreshed: true };
  }

  /**
   * The smarthost refused `stale`: a new token. When another session (or
   * process) already replaced it, that replacement, without a new refresh.
   */
  async renew(stale: string): Promise<string> {
    if (this.refreshing !== null) return this.refreshing;
    if (this.cached !== null && this.cached.token !== stale && this.usable(this.cached.expiresAt)) return this.cached.token;
    return this.storedOtherThan(stale) ?? this.refresh(stale);
  }

  /** The stored access token if it has the margin to live and is not `refused`. */
  private storedOtherThan(refused: string | null): string | null {
    const record = this.record();
    if (record.accessToken === null || record.accessToken === refused || record.expiresAt === null) return null;
    if (!this.usable(Date.parse(record.expiresAt))) return null;
    this.cached = { token: record.accessToken, expiresAt: Date.parse(record.expiresAt) };
    return record.accessToken;
  }

  private refresh(refused: string | null = null): Promise<string> {
    this.refreshing ??= this.refreshLocked(refused).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * One refresh across processes: under lock/token-ACCOUNT, the store is
   * read again first, so a process that waited takes the token the other
   * one just stored instead of sending the same refresh token again (a
   * provider that rotates refresh tokens would answer invalid_grant).
   */
  private async refreshLocked(refused: string | null): Promise<string> {
    const { account } = this.settings;
    let lock: HeldLock;
    try {
      lock = await lockWithin(tokenRefreshLockPath(this.spool, account), REFRESH_LOCK_WAIT_MS, `the OAuth2 token of account ${account}`);
    } catch (err) {
      throw new BulkmailerError('E_UNREACHABLE', `account ${account}: ${(err as Error).message}`, { exitCode: ExitCode.tempFail, cause: err });
    }
    try {
      return this.storedOtherThan(refused) ?? (await this.refreshOnce());
    } finally {
      lock.release();
    }
  }

  private async refreshOnce(): Promise<string> {
    const { account, tokenUrl } = this.settings;
    const record = this.record();
    const fields: Record<string, string> = { ...clientFields(this.settings, true), grant_type: 'refresh_token', refresh_token: record.refreshToken };
    // The scope as configured, not as granted: Microsoft's answer may leave out offline_access, and without it no new refresh token comes.
    if (this.settings.scopeOnRefresh) fields.scope = this.settings.scope;
    let reply;
    try {
      reply = await callEndpoint(tokenUrl, fields, accountKey(account, 'oauth2.tokenUrl'));
    } catch (err) {
      throw new BulkmailerError('E_UNREACHABLE', `account ${account}: cannot refresh its OAuth2 access token: ${(err as Error).message}`, {
        exitCode: ExitCode.tempFail,
        cause: err,
      });
    }
    if (!reply.ok) {
      if (reply.error === 'invalid_grant') {
        throw needsLogin(account, `the token endpoint refused the refresh token (${describeEndpointError(reply)}): revoked, expired or the password changed`);
      }
      if (isClientError(reply.error)) {
        throw new BulkmailerError(
          'E_AUTH',
          `account ${account}: the token endpoint refused the client (${describeEndpointError(reply)}): check ${accountKey(account, 'oauth2.clientId')} and clientSecret`,
          { exitCode: ExitCode.noPerm, temporary: false },
        );
      }
      throw new BulkmailerError('E_UNREACHABLE', `account ${account}: the token endpoint failed to refresh the access token (${describeEndpointError(reply)})`, {
        exitCode: ExitCode.tempFail,
      });
    }
    let issued;
    try {
      issued = issuedTokens(tokenUrl, reply.body);
    } catch (err) {
      // A 2xx without a usable token (a proxy, a provider's hiccup) is the endpoint failing for now: the mail waits (75), nothing stops.
      throw new BulkmailerError('E_UNREACHABLE', `account ${account}: cannot refresh its OAuth2 access token: ${(err as Error).message}`, {
        exitCode: ExitCode.tempFail,
        cause: err,
      });
    }
    const now = this.now();
    const expiresAt = now + (issued.expiresIn ?? ASSUMED_LIFETIME_S) * 1000;
    // A provider that rotates refresh tokens (Microsoft may) sends a new one: it replaces the old, durably, before use.
    await writeOAuthToken(this.spool, {
      ...record,
      refreshToken: issued.refreshToken ?? record.refreshToken,
      accessToken: issued.accessToken,
      expiresAt: new Date(expiresAt).toISOString(),
    });
    this.refreshes++;
    this.cached = { token: issued.accessToken, expiresAt };
    return issued.accessToken;
  }
}
