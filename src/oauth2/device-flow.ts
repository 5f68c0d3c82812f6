/**
 * The OAuth 2.0 device authorization grant (RFC 8628), for `bulkmailer
 * account login --flow device`: ask the device authorization endpoint for
 * a user code, show the user where to enter it (any browser, any machine),
 * then poll the token endpoint until the user has approved or refused.
 *
 * Polling follows section 3.5: wait `interval` seconds (5 when absent)
 * between requests; `authorization_pending` polls again; `slow_down` adds 5
 * seconds to the interval for this and every later request;
 * `access_denied` and `expired_token` end the login (E_LOGIN_DENIED, 77;
 * E_LOGIN_EXPIRED, 75), as does reaching the code's `expires_in`. Waiting
 * and the clock are injected (tests run the whole exchange without
 * sleeping); the signal ends the wait (Ctrl-C).
 */
import { BulkmailerError, ExitCode } from '../errors.js';
import { callEndpoint, describeEndpointError, issuedTokens, type IssuedTokens } from './token-endpoint.js';
import { clientFields, loginFailed } from './login-errors.js';
import type { OAuth2Settings } from './settings.js';
import { accountKey } from './settings.js';

export interface DevicePrompt {
  verificationUri: string;
  userCode: string;
  /** The URI with the code in it, when the provider gives one (Microsoft does not). */
  verificationUriComplete: string | null;
  expiresInS: number;
}

export interface DeviceFlowOptions {
  onPrompt: (prompt: DevicePrompt) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  signal?: AbortSignal;
}

/** RFC 8628 3.2: "If no value is provided, clients MUST use 5 as the default." */
const DEFAULT_INTERVAL_S = 5;
/** RFC 8628 3.5: slow_down increases the interval by 5 seconds. */
const SLOW_DOWN_STEP_S = 5;

export function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(stopped());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(stopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function stopped(): BulkmailerError {
  return new BulkmailerError('E_LOGIN_STOPPED', 'login stopped before it finished; nothing stored', { exitCode: ExitCode.tempFail });
}

export async function runDeviceFlow(settings: OAuth2Settings, options: DeviceFlowOptions): Promise<IssuedTokens> {
  const sleep = options.sleep ?? sleepFor;
  const now = options.now ?? Date.now;
  const endpoint = settings.deviceAuthorizationUrl;
  if (endpoint === null) {
    throw new BulkmailerError(
      'E_OAUTH2_CONFIG',
      `${settings.provider?.label ?? 'this provider'} has no device authorization endpoint configured; use --flow loopback or set ${accountKey(settings.account, 'oauth2.deviceAuthorizationUrl')}`,
      { exitCode: ExitCode.config },
    );
  }
  const started = now();
  const authorization = await callEndpoint(endpoint, { ...clientFields(settings, false), scope: settings.scope }, 'oauth2.deviceAuthorizationUrl');
  if (!authorization.ok) throw loginFailed(`the device authorization endpoint refused: ${describeEndpointError(authorization)}`, authorization.error);
  const body = authorization.body;
  // Google names it verification_url (its pre-RFC spelling).
  const verificationUri = body.verification_uri ?? body.verification_url;
  if (typeof body.device_code !== 'string' || typeof body.user_code !== 'string' || typeof verificationUri !== 'string') {
    throw new BulkmailerError('E_OAUTH2_PROTOCOL', 'the device authorization endpoint answered without device_code, user_code and verification_uri', {
      exitCode: ExitCode.protocol,
    });
  }
  const expiresInS = Number(body.expires_in) > 0 ? Number(body.expires_in) : 600;
  const given = Number(body.interval);
  let intervalS = body.interval !== undefined && Number.isFinite(given) && given >= 0 ? given : DEFAULT_INTERVAL_S;
  options.onPrompt({
    verificationUri,
    userCode: body.user_code,
    verificationUriComplete: typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : null,
    expiresInS,
  });
  const deadline = started + expiresInS * 1000;
  for (;;) {
    await sleep(intervalS * 1000, options.signal);
    if (now() >= deadline) throw expired();
    const reply = await callEndpoint(
      settings.tokenUrl,
      { ...clientFields(settings, true), grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: body.device_code },
      'oauth2.tokenUrl',
    );
    if (reply.ok) return issuedTokens(settings.tokenUrl, reply.body);
    switch (reply.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        intervalS += SLOW_DOWN_STEP_S;
        continue;
      case 'expired_token':
        throw expired();
      case 'access_denied':
        throw new BulkmailerError('E_LOGIN_DENIED', 'the login was refused at the provider (access_denied); nothing stored', {
          exitCode: ExitCode.noPerm,
        });
      default:
        throw loginFailed(`the token endpoint refused: ${describeEndpointError(reply)}`, reply.error);
    }
  }
}

function expired(): BulkmailerError {
  return new BulkmailerError('E_LOGIN_EXPIRED', 'the code expired before the login was approved; run the login again', {
    exitCode: ExitCode.tempFail,
  });
}
