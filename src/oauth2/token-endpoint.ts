/**
 * Talking to an OAuth2 endpoint (RFC 6749 section 3.2, RFC 8628 section
 * 3.1): one POST of form fields, one JSON answer. node:http(s) with no
 * connection pooling (nothing keeps the process alive afterwards) and the
 * platform's certificate checks, never turned off; https only, except to a
 * loopback host (checkEndpointUrl, checked again here at the last moment).
 *
 * An error reply of the endpoint ({"error": "invalid_grant", ...}) is a
 * value (`EndpointReply` with ok false): the caller decides what it means
 * (a device login still pending, a revoked refresh token). Only failures to
 * get an answer at all are thrown: E_OAUTH2_UNREACHABLE (temporary, 75)
 * when the endpoint cannot be reached or answers 5xx without an error
 * object, E_OAUTH2_PROTOCOL (76) when the answer is not what RFC 6749
 * describes. No error message ever contains a field we sent (a refresh
 * token, a client secret, a code) or a token we received.
 */
import http from 'node:http';
import https from 'node:https';
import { BulkmailerError, ExitCode } from '../errors.js';
import { checkEndpointUrl } from '../config/endpoint-url.js';

export interface EndpointAnswer {
  status: number;
  body: Record<string, unknown>;
}

export type EndpointReply =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; status: number; error: string; description: string | null };

/** Answers bigger than this are not an OAuth2 endpoint's. */
const MAX_ANSWER_BYTES = 256 * 1024;
export const ENDPOINT_TIMEOUT_MS = 30_000;

function unreachable(url: URL, detail: string, cause?: unknown): BulkmailerError {
  return new BulkmailerError('E_OAUTH2_UNREACHABLE', `cannot get an answer from the OAuth2 endpoint ${url.origin}${url.pathname}: ${detail}`, {
    exitCode: ExitCode.tempFail,
    cause,
  });
}

function protocolError(url: URL, detail: string): BulkmailerError {
  return new BulkmailerError('E_OAUTH2_PROTOCOL', `the OAuth2 endpoint ${url.origin}${url.pathname} answered something unexpected: ${detail}`, {
    exitCode: ExitCode.protocol,
    temporary: true,
  });
}

/** POSTs `fields` form-encoded and parses the JSON answer, whatever its status. */
export function postForm(endpoint: string, fields: Record<string, string>, key: string, timeoutMs = ENDPOINT_TIMEOUT_MS): Promise<EndpointAnswer> {
  const url = checkEndpointUrl(endpoint, key);
  const body = new URLSearchParams(fields).toString();
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
        },
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            request.destroy();
            reject(protocolError(url, `an answer over ${MAX_ANSWER_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (err) => reject(unreachable(url, err.message, err)));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
            resolve({ status, body: parsed as Record<string, unknown> });
          } else if (status >= 500 || status === 429) {
            reject(unreachable(url, `HTTP ${status}`));
          } else {
            reject(protocolError(url, `HTTP ${status} without a JSON object`));
          }
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)}s`)));
    request.on('error', (err: NodeJS.ErrnoException) => {
      // A certificate that does not verify says so (it will not fix itself, but it is not ours to retry).
      reject(unreachable(url, err.code ?? err.message, err));
    });
    request.end(body);
  });
}

/** One request to the endpoint, its answer classified (RFC 6749 5.1 success, 5.2 error). */
export async function callEndpoint(endpoint: string, fields: Record<string, string>, key: string, timeoutMs?: number): Promise<EndpointReply> {
  const answer = await postForm(endpoint, fields, key, timeoutMs);
  if (typeof answer.body.error === 'string') {
    const description = typeof answer.body.error_description === 'string' ? answer.body.error_description : null;
    return { ok: false, status: answer.status, error: answer.body.error, description };
  }
  if (answer.status >= 200 && answer.status < 300) return { ok: true, body: answer.body };
  if (answer.status >= 500 || answer.status === 429) throw unreachable(new URL(endpoint), `HTTP ${answer.status}`);
  throw protocolError(new URL(endpoint), `HTTP ${answer.status} without an "error" field`);
}

/** What a token endpoint issued (RFC 6749 5.1). */
export interface IssuedTokens {
  accessToken: string;
  /** Seconds, when the endpoint said. */
  expiresIn: number | null;
  refreshToken: string | null;
  scope: string | null;
}

/** The tokens in a successful token response; a response without an access token is a protocol error. */
export function issuedTokens(endpoint: string, body: Record<string, unknown>): IssuedTokens {
  if (typeof body.access_token !== 'string' || body.access_token === '') {
    throw protocolError(new URL(endpoint), 'a token response without access_token');
  }
  if (typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'bearer') {
    throw protocolError(new URL(endpoint), `token_type "${body.token_type}" (XOAUTH2 needs a bearer token)`);
  }
  const expires = Number(body.expires_in);
  return {
    accessToken: body.access_token,
    expiresIn: Number.isFinite(expires) && expires > 0 ? expires : null,
    refreshToken: typeof body.refresh_token === 'string' && body.refresh_token !== '' ? body.refresh_token : null,
    scope: typeof body.scope === 'string' ? body.scope : null,
  };
}

/** "invalid_grant: Token has been expired or revoked." */
export function describeEndpointError(reply: { error: string; description: string | null }): string {
  // The description is the provider's text; it never echoes our secrets.
  return reply.description === null ? reply.error : `${reply.error}: ${reply.description.slice(0, 300)}`;
}
