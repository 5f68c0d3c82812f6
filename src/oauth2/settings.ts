/**
 * An account's OAuth2 settings, resolved: what the config says, the rest
 * from the provider's row (src/oauth2/providers.ts), chosen by
 * `oauth2.provider` or else by the smarthost's host name. Pure: it takes
 * the account's stored settings and reads nothing.
 *
 * Fails with a config error (78) that names the key to set: no client id,
 * an unknown provider with no endpoints of its own, or an endpoint that is
 * not https (http is allowed to a loopback host only, for tests and local
 * proxies). Secrets (the client secret) are carried, never shown.
 */
import { configError } from '../errors.js';
import { checkEndpointUrl } from '../config/endpoint-url.js';
import { DEFAULT_ACCOUNT } from '../config/accounts.js';
import type { StoredConfig } from '../config/schema.js';
import { OAUTH2_PROVIDERS, providerForHost, type LoginFlow, type OAuth2Provider } from './providers.js';

/** The settings of one account that OAuth2 reads (the top level today; accounts.NAME the same shape). */
export interface OAuth2AccountSettings {
  auth: Pick<StoredConfig['auth'], 'method' | 'user'>;
  oauth2: StoredConfig['oauth2'];
}

export interface OAuth2Settings {
  account: string;
  /** The address to authenticate as (XOAUTH2's user=); null when neither auth.user nor the URL gives one. */
  user: string | null;
  provider: OAuth2Provider | null;
  clientId: string;
  clientSecret: string | null;
  tokenUrl: string;
  deviceAuthorizationUrl: string | null;
  authorizationUrl: string | null;
  scope: string;
  defaultFlow: LoginFlow;
  authorizationParams: Readonly<Record<string, string>>;
  /** Microsoft wants the scope again on refresh; Google takes none. */
  scopeOnRefresh: boolean;
}

/** How a key of this account is spelled in `config set` (accounts.NAME.KEY, or KEY for the default account). */
export function accountKey(account: string, key: string): string {
  return account === DEFAULT_ACCOUNT ? key : `accounts.${account}.${key}`;
}

export function usesOAuth2(settings: OAuth2AccountSettings): boolean {
  return settings.auth.method === 'oauth2';
}

export function resolveOAuth2Settings(
  account: string,
  settings: OAuth2AccountSettings,
  smarthost: { host: string; user: string | null } | null,
): OAuth2Settings {
  const key = (k: string) => accountKey(account, k);
  const o = settings.oauth2;
  const provider = o.provider !== null ? OAUTH2_PROVIDERS[o.provider as keyof typeof OAUTH2_PROVIDERS] ?? null : smarthost === null ? null : providerForHost(smarthost.host);
  if (o.clientId === null) {
    throw configError(
      `account ${account} uses OAuth2 but ${key('oauth2.clientId')} is not set: register an app with the provider (README: "OAuth2") and \`bulkmailer config set ${key('oauth2.clientId')} ID\``,
      'E_OAUTH2_CONFIG',
    );
  }
  const tokenUrl = o.tokenUrl ?? provider?.tokenUrl ?? null;
  if (tokenUrl === null) {
    throw configError(
      `account ${account}: no OAuth2 provider is known for ${smarthost?.host ?? 'its smarthost'}; set ${key('oauth2.provider')} (google, microsoft) or ${key('oauth2.tokenUrl')}`,
      'E_OAUTH2_CONFIG',
    );
  }
  const deviceAuthorizationUrl = o.deviceAuthorizationUrl ?? provider?.deviceAuthorizationUrl ?? null;
  const authorizationUrl = o.authorizationUrl ?? provider?.authorizationUrl ?? null;
  checkEndpointUrl(tokenUrl, key('oauth2.tokenUrl'));
  if (deviceAuthorizationUrl !== null) checkEndpointUrl(deviceAuthorizationUrl, key('oauth2.deviceAuthorizationUrl'));
  if (authorizationUrl !== null) checkEndpointUrl(authorizationUrl, key('oauth2.authorizationUrl'));
  const scope = o.scope ?? provider?.scope ?? null;
  if (scope === null) {
    throw configError(`account ${account}: set ${key('oauth2.scope')} (the scope that allows SMTP for your provider)`, 'E_OAUTH2_CONFIG');
  }
  return {
    account,
    user: settings.auth.user ?? smarthost?.user ?? null,
    provider,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    tokenUrl,
    deviceAuthorizationUrl,
    authorizationUrl,
    scope,
    defaultFlow: provider?.defaultFlow ?? (deviceAuthorizationUrl !== null ? 'device' : 'loopback'),
    authorizationParams: provider?.authorizationParams ?? {},
    scopeOnRefresh: provider?.name === 'microsoft',
  };
}
