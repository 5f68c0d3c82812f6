/**
 * What the flows send to identify the client, and how a refusal from the
 * provider's endpoint reads. A client the provider does not know (or a
 * wrong secret, or a scope it will not grant) is a config problem (78):
 * the user fixes oauth2.clientId / clientSecret / scope. Any other refusal
 * ends the login with 77. Messages carry the provider's error code and
 * description, never a field we sent.
 */
import { BulkmailerError, ExitCode } from '../errors.js';
import type { OAuth2Settings } from './settings.js';

/** client_id, and client_secret when there is one and the request authenticates the client (RFC 6749 2.3.1, in the body). */
export function clientFields(settings: OAuth2Settings, withSecret: boolean): Record<string, string> {
  const fields: Record<string, string> = { client_id: settings.clientId };
  if (withSecret && settings.clientSecret !== null) fields.client_secret = settings.clientSecret;
  return fields;
}

const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'unsupported_grant_type']);

export function isClientError(error: string): boolean {
  return CLIENT_ERRORS.has(error);
}

export function loginFailed(message: string, error: string): BulkmailerError {
  if (isClientError(error)) {
    return new BulkmailerError('E_OAUTH2_CLIENT', `${message}; check oauth2.clientId, oauth2.clientSecret and oauth2.scope against the app registered with the provider`, {
      exitCode: ExitCode.config,
    });
  }
  return new BulkmailerError('E_LOGIN_FAILED', `${message}; nothing stored`, { exitCode: ExitCode.noPerm });
}
