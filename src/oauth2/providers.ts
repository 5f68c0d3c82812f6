/**
 * The OAuth2 providers we know: their endpoints, the scope that allows SMTP
 * submission, and which login flow works for them. Pure data, the one table
 * (account presets point at a provider by its name; `oauth2.provider`, or
 * the smarthost's host name, picks the row; every URL and the scope can be
 * overridden by config).
 *
 * Checked 2026-11-30 against the providers' own documentation:
 *   - Google: "OAuth 2.0 for Mobile & Desktop Apps"
 *     (developers.google.com/identity/protocols/oauth2/native-app):
 *     authorization https://accounts.google.com/o/oauth2/v2/auth, token
 *     https://oauth2.googleapis.com/token, loopback redirect
 *     http://127.0.0.1:PORT with PKCE (S256); a desktop client's secret is
 *     "not treated as a secret" but is sent. The device endpoint
 *     https://oauth2.googleapis.com/device/code exists ("OAuth 2.0 for TV and
 *     Limited-Input Device Applications"), but that flow "supports a limited
 *     set of scopes" and the Gmail scope https://mail.google.com/ is not one
 *     of them: loopback is Google's default. access_type=offline asks for a
 *     refresh token, prompt=consent makes Google issue one again on a
 *     second login.
 *   - Microsoft: Microsoft identity platform, "OAuth 2.0 device
 *     authorization grant" and "authorization code flow"
 *     (learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code,
 *     v2-oauth2-auth-code-flow): https://login.microsoftonline.com/common/
 *     oauth2/v2.0/{devicecode,token,authorize}; Exchange Online, "Authenticate
 *     an IMAP, POP or SMTP connection using OAuth"
 *     (learn.microsoft.com/exchange/client-developer/legacy-protocols/
 *     how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth): scope
 *     https://outlook.office.com/SMTP.Send, plus offline_access for a
 *     refresh token; Microsoft 365 and Outlook.com. Its device endpoint
 *     does not return verification_uri_complete. Device flow is the default
 *     (no browser needed on this machine).
 */

export type OAuth2ProviderName = 'google' | 'microsoft';
export type LoginFlow = 'device' | 'loopback';

export interface OAuth2Provider {
  name: OAuth2ProviderName;
  label: string;
  tokenUrl: string;
  deviceAuthorizationUrl: string;
  authorizationUrl: string;
  scope: string;
  defaultFlow: LoginFlow;
  /** Extra parameters of the authorization request (loopback flow). */
  authorizationParams: Readonly<Record<string, string>>;
  /** Smarthost host names that mean this provider when `oauth2.provider` is not set. */
  smarthostHosts: readonly string[];
}

export const OAUTH2_PROVIDERS: Readonly<Record<OAuth2ProviderName, OAuth2Provider>> = {
  google: {
    name: 'google',
    label: 'Google (Gmail, Google Workspace)',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    deviceAuthorizationUrl: 'https://oauth2.googleapis.com/device/code',
    authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    scope: 'https://mail.google.com/',
    defaultFlow: 'loopback',
    authorizationParams: { access_type: 'offline', prompt: 'consent' },
    smarthostHosts: ['smtp.gmail.com', 'smtp-relay.gmail.com', 'smtp.googlemail.com'],
  },
  microsoft: {
    name: 'microsoft',
    label: 'Microsoft (Outlook.com, Microsoft 365)',
    tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    deviceAuthorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/devicecode',
    authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
    scope: 'https://outlook.office.com/SMTP.Send offline_access',
    defaultFlow: 'device',
    authorizationParams: {},
    smarthostHosts: ['smtp.office365.com', 'smtp-mail.outlook.com', 'smtp.outlook.com'],
  },
};

export const OAUTH2_PROVIDER_NAMES = Object.keys(OAUTH2_PROVIDERS) as OAuth2ProviderName[];

/** The provider a smarthost host name belongs to, or null. */
export function providerForHost(host: string): OAuth2Provider | null {
  const bare = host.toLowerCase().replace(/\.$/, '');
  return Object.values(OAUTH2_PROVIDERS).find((p) => p.smarthostHosts.includes(bare)) ?? null;
}
