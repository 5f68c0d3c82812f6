/**
 * A real OAuth2 authorization server for tests, on 127.0.0.1 and a port of
 * its own (node:http): the device authorization grant (RFC 8628), the
 * authorization endpoint and the code exchange with PKCE verification (RFC
 * 7636 S256), and refresh (RFC 6749 section 6), with the error answers a
 * real provider gives. It keeps the access tokens it issued, so an SMTP
 * test server can accept only a currently valid one (`isValid`), and can be
 * scripted: expire every access token now, revoke a refresh token, rotate
 * refresh tokens, refuse or slow down device polling.
 */
import http from 'node:http';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';

export interface OAuth2ServerOptions {
  clientId?: string;
  /** Required on token requests when set (a Google desktop client). */
  clientSecret?: string | null;
  /** Seconds the device code lives. */
  deviceExpiresIn?: number;
  /** The interval to announce; undefined leaves it out (the client must use 5). */
  deviceInterval?: number | undefined;
  /** What the n-th device poll (0-based) answers before approval: an error code, or 'approve'. */
  devicePoll?: (n: number) => 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token' | 'approve';
  /** Seconds an access token lives (expires_in). */
  accessTokenLifetime?: number;
  /** Issue a new refresh token on every refresh (the old one stops working). */
  rotateRefreshTokens?: boolean;
  /** The authorization endpoint refuses (error=access_denied in the redirect). */
  denyAuthorization?: boolean;
}

export interface TokenRequest {
  grantType: string;
  fields: Record<string, string>;
}

export interface OAuth2TestServer {
  url: string;
  tokenUrl: string;
  deviceAuthorizationUrl: string;
  authorizationUrl: string;
  /** Every token endpoint request, in order. */
  tokenRequests: TokenRequest[];
  /** Device authorization requests. */
  deviceRequests: Record<string, string>[];
  /** Query of every authorization request. */
  authorizationRequests: Record<string, string>[];
  refreshCount(): number;
  /** An access token the server issued and has not expired or revoked. */
  isValid(accessToken: string): boolean;
  /** Every access token issued so far stops being valid (the provider's clock passed their expiry). */
  expireAccessTokens(): void;
  /** The refresh token stops working (the user revoked access): invalid_grant. */
  revokeRefreshTokens(): void;
  /** Hands out a refresh token and access token directly, as a finished login would have. */
  issue(): { refreshToken: string; accessToken: string; expiresIn: number };
  close(): Promise<void>;
}

export async function startOAuth2Server(options: OAuth2ServerOptions = {}): Promise<OAuth2TestServer> {
  const clientId = options.clientId ?? 'test-client';
  const clientSecret = options.clientSecret ?? null;
  const lifetime = options.accessTokenLifetime ?? 3600;
  const accessTokens = new Set<string>();
  const refreshTokens = new Set<string>();
  const devices = new Map<string, { polls: number; approved: boolean; expiresAt: number }>();
  const codes = new Map<string, { challenge: string; method: string; redirectUri: string; clientId: string }>();
  const tokenRequests: TokenRequest[] = [];
  const deviceRequests: Record<string, string>[] = [];
  const authorizationRequests: Record<string, string>[] = [];
  let refreshes = 0;

  const token = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`;
  const issue = () => {
    const refreshToken = token('rt');
    const accessToken = token('at');
    refreshTokens.add(refreshToken);
    accessTokens.add(accessToken);
    return { refreshToken, accessToken, expiresIn: lifetime };
  };

  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body));
    };
    const error = (error: string, status = 400, description?: string) =>
      json(status, { error, ...(description === undefined ? {} : { error_description: description }) });

    if (request.method === 'GET' && url.pathname === '/authorize') {
      const q = Object.fromEntries(url.searchParams);
      authorizationRequests.push(q);
      const redirect = new URL(q.redirect_uri ?? 'http://invalid/');
      if (options.denyAuthorization) {
        redirect.searchParams.set('error', 'access_denied');
      } else {
        const code = token('code');
        codes.set(code, { challenge: q.code_challenge ?? '', method: q.code_challenge_method ?? '', redirectUri: q.redirect_uri ?? '', clientId: q.client_id ?? '' });
        redirect.searchParams.set('code', code);
      }
      redirect.searchParams.set('state', q.state ?? '');
      response.writeHead(302, { location: redirect.toString() });
      response.end();
      return;
    }
    if (request.method !== 'POST') return error('invalid_request', 405);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (!/^application\/x-www-form-urlencoded/.test(request.headers['content-type'] ?? '')) return error('invalid_request');
    const fields = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));

    if (url.pathname === '/device/code') {
      deviceRequests.push(fields);
      if (fields.client_id !== clientId) return error('invalid_client', 401);
      const deviceCode = token('dc');
      const expiresIn = options.deviceExpiresIn ?? 900;
      devices.set(deviceCode, { polls: 0, approved: false, expiresAt: Date.now() + expiresIn * 1000 });
      return json(200, {
        device_code: deviceCode,
        user_code: 'WDJB-MJHT',
        verification_uri: `${`http://127.0.0.1:${port}`}/device`,
        expires_in: expiresIn,
        ...(options.deviceInterval === undefined ? {} : { interval: options.deviceInterval }),
      });
    }
    if (url.pathname !== '/token') return error('invalid_request', 404);
    tokenRequests.push({ grantType: fields.grant_type ?? '', fields });
    if (fields.client_id !== clientId) return error('invalid_client', 401, 'unknown client');
    if (clientSecret !== null && fields.client_secret !== clientSecret) return error('invalid_client', 401, 'bad client secret');
    const granted = () => {
      const issued = issue();
      return json(200, { access_token: issued.accessToken, token_type: 'Bearer', expires_in: lifetime, refresh_token: issued.refreshToken, scope: 'https://mail.example/' });
    };
    switch (fields.grant_type) {
      case 'urn:ietf:params:oauth:grant-type:device_code': {
        const device = devices.get(fields.device_code ?? '');
        if (device === undefined) return error('invalid_grant');
        const n = device.polls++;
        const verdict = options.devicePoll?.(n) ?? 'approve';
        if (verdict !== 'approve') return error(verdict);
        devices.delete(fields.device_code ?? '');
        return granted();
      }
      case 'authorization_code': {
        const code = codes.get(fields.code ?? '');
        if (code === undefined) return error('invalid_grant', 400, 'unknown code');
        codes.delete(fields.code ?? ''); // one use only
        if (code.redirectUri !== fields.redirect_uri) return error('invalid_grant', 400, 'redirect_uri mismatch');
        if (code.method !== 'S256') return error('invalid_request', 400, 'PKCE S256 required');
        const challenge = createHash('sha256').update(fields.code_verifier ?? '', 'ascii').digest('base64url');
        if (challenge !== code.challenge) return error('invalid_grant', 400, 'code_verifier does not match');
        return granted();
      }
      case 'refresh_token': {
        const rt = fields.refresh_token ?? '';
        if (!refreshTokens.has(rt)) return error('invalid_grant', 400, 'Token has been expired or revoked.');
        refreshes++;
        const accessToken = token('at');
        accessTokens.add(accessToken);
        let refreshToken: string | undefined;
        if (options.rotateRefreshTokens) {
          refreshTokens.delete(rt);
          refreshToken = token('rt');
          refreshTokens.add(refreshToken);
        }
        return json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: lifetime, ...(refreshToken ? { refresh_token: refreshToken } : {}) });
      }
      default:
        return error('unsupported_grant_type');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    tokenUrl: `${base}/token`,
    deviceAuthorizationUrl: `${base}/device/code`,
    authorizationUrl: `${base}/authorize`,
    tokenRequests,
    deviceRequests,
    authorizationRequests,
    refreshCount: () => refreshes,
    isValid: (accessToken) => accessTokens.has(accessToken),
    expireAccessTokens: () => accessTokens.clear(),
    revokeRefreshTokens: () => refreshTokens.clear(),
    issue,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
