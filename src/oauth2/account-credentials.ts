/**
 * An account's credentials for its smarthost sessions, whichever way it
 * authenticates: a password from its sources (src/config/credentials.ts)
 * for auth.method password, or its OAuth2 tokens (XOAUTH2) for
 * auth.method oauth2. Resolved when a flush (or doctor) is about to
 * connect. Fails with a config error (78) naming the key to set (no client
 * id, no user to log in as); a missing or revoked token is found only when
 * a session asks for it (E_AUTH: the flush holds the account).
 */
import { configError } from '../errors.js';
import { resolveCredentials, type Credentials } from '../config/credentials.js';
import type { Smarthost } from '../config/smarthost.js';
import type { StoredAccountSettings } from '../config/accounts.js';
import type { Spool } from '../spool/index.js';
import { AccessTokens, type OAuth2Credentials } from './access-tokens.js';
import { accountKey, resolveOAuth2Settings, usesOAuth2 } from './settings.js';

export async function resolveAccountCredentials(
  spool: Spool,
  account: string,
  stored: StoredAccountSettings,
  smarthost: Smarthost,
  options: { env?: NodeJS.ProcessEnv; now?: () => number } = {},
): Promise<Credentials | OAuth2Credentials | null> {
  if (!usesOAuth2(stored)) return resolveCredentials(stored, smarthost, options.env, accountKey(account, ''));
  const settings = resolveOAuth2Settings(account, stored, smarthost);
  if (settings.user === null) {
    throw configError(`account ${account} uses OAuth2: set ${accountKey(account, 'auth.user')} to the address to log in as`, 'E_OAUTH2_CONFIG');
  }
  return { user: settings.user, tokens: new AccessTokens(spool, settings, options.now) };
}
