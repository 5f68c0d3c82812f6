/**
 * The authorization code flow for native apps (RFC 8252) with PKCE (RFC
 * 7636, S256), for `bulkmailer account login --flow loopback`: listen on
 * 127.0.0.1 on a port the OS picks (RFC 8252 7.3: the loopback IP, not
 * "localhost"), send the user's browser to the authorization endpoint with
 * that redirect URI, a random `state` and the code challenge; the provider
 * redirects the browser back with a code, which is exchanged at the token
 * endpoint with the code verifier.
 *
 * A redirect whose `state` is not ours is answered 400 and otherwise
 * ignored (someone else's page may try to inject a code: RFC 6749 10.12);
 * `error=access_denied` ends the login (E_LOGIN_DENIED, 77); no redirect
 * within the wait ends it with E_LOGIN_EXPIRED (75). The listener is
 * closed however the flow ends. The code and verifier never appear in a
 * message.
 */
import http from 'node:http';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { BulkmailerError, ExitCode } from '../errors.js';
import { callEndpoint, describeEndpointError, issuedTokens, type IssuedTokens } from './token-endpoint.js';
import { clientFields, loginFailed } from './login-errors.js';
import { accountKey, type OAuth2Settings } from './settings.js';

export interface LoopbackFlowOptions {
  /** Show (and perhaps open) the URL the user must visit. */
  onAuthorizationUrl: (url: string) => void;
  /** How long to wait for the browser to come back. */
  waitMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_WAIT_MS = 5 * 60_000;

/** RFC 7636 4.1: 32 random octets, base64url: 43 characters of the unreserved set. */
export function newCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

/** RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
export function codeChallengeS256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>bulkmailer: ${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>\n`;

interface Redirect {
  code: string;
}

export async function runLoopbackFlow(settings: OAuth2Settings, options: LoopbackFlowOptions): Promise<IssuedTokens> {
  const authorizationUrl = settings.authorizationUrl;
  if (authorizationUrl === null) {
    throw new BulkmailerError(
      'E_OAUTH2_CONFIG',
      `no authorization endpoint is configured for the loopback flow; use --flow device or set ${accountKey(settings.account, 'oauth2.authorizationUrl')}`,
      { exitCode: ExitCode.config },
    );
  }
  const verifier = newCodeVerifier();
  const state = randomBytes(16).toString('base64url');
  const settle = {} as { resolve: (r: Redirect) => void; reject: (e: Error) => void };
  const redirected = new Promise<Redirect>((resolve, reject) => Object.assign(settle, { resolve, reject }));
  redirected.catch(() => {}); // awaited below; a refusal before then must not count as unhandled
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const answer = (status: number, title: string, text: string) => {
      response.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
      response.end(PAGE(title, text));
    };
    if (request.method !== 'GET' || url.pathname !== '/') return answer(404, 'Not found', 'This is not the login redirect.');
    if (url.searchParams.get('state') !== state) {
      return answer(400, 'Login not accepted', 'This redirect does not belong to the login bulkmailer started (state mismatch).');
    }
    const error = url.searchParams.get('error');
    if (error !== null) {
      answer(200, 'Login refused', 'The provider did not grant access. You can close this window.');
      const description = url.searchParams.get('error_description');
      settle.reject(
        error === 'access_denied'
          ? new BulkmailerError('E_LOGIN_DENIED', 'the login was refused at the provider (access_denied); nothing stored', { exitCode: ExitCode.noPerm })
          : loginFailed(`the authorization endpoint refused: ${describeEndpointError({ error, description })}`, error),
      );
      return;
    }
    const code = url.searchParams.get('code');
    if (code === null || code === '') return answer(400, 'Login not accepted', 'The redirect carries no authorization code.');
    answer(200, 'Logged in', 'bulkmailer received the authorization. You can close this window.');
    settle.resolve({ code });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const redirectUri = `http://127.0.0.1:${port}/`;
  const timer = setTimeout(
    () => settle.reject(new BulkmailerError('E_LOGIN_EXPIRED', 'no answer from the browser in time; run the login again', { exitCode: ExitCode.tempFail })),
    options.waitMs ?? DEFAULT_WAIT_MS,
  );
  const onAbort = () => settle.reject(new BulkmailerError('E_LOGIN_STOPPED', 'login stopped before it finished; nothing stored', { exitCode: ExitCode.tempFail }));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const url = new URL(authorizationUrl);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: settings.clientId,
      redirect_uri: redirectUri,
      scope: settings.scope,
      state,
      code_challenge: codeChallengeS256(verifier),
      code_challenge_method: 'S256',
      ...settings.authorizationParams,
    };
    if (settings.user !== null) params.login_hint = settings.user;
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    options.onAuthorizationUrl(url.toString());
    const { code } = await redirected;
    const reply = await callEndpoint(
      settings.tokenUrl,
      { ...clientFields(settings, true), grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier },
      'oauth2.tokenUrl',
    );
    if (!reply.ok) throw loginFailed(`the token endpoint refused the code: ${describeEndpointError(reply)}`, reply.error);
    return issuedTokens(settings.tokenUrl, reply.body);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    server.closeAllConnections();
    server.close();
  }
}
