/**
 * What the SMTP listener needs to know, and the rules that keep it from
 * ever being an open relay:
 *
 *   - a loopback address (127.0.0.0/8, ::1, localhost) may be bound without
 *     AUTH: only processes on this machine can reach it;
 *   - any other address is refused unless listener.authUser/authPass are set;
 *   - AUTH is offered only over TLS (STARTTLS), so credentials require
 *     listener.tlsKeyFile and tlsCertFile;
 *   - once credentials are configured, AUTH is required on every address.
 *
 * Violations fail with E_CONFIG (exit 78) before anything is bound.
 */
import fs from 'node:fs';
import { configError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import type { StoredConfig } from '../../config/schema.js';
import { isLoopbackHost } from '../../config/smarthost.js';

export interface ListenerSettings {
  host: string;
  port: number;
  maxMessageSize: number;
  /** Connections served at once (default: listener.maxConnections's default). */
  maxConnections?: number;
  /** Close a connection that starts no transaction within this time (default: listener.idleTimeout's). */
  idleTimeoutMs?: number;
  auth: { user: string; pass: string } | null;
  tls: { key: Buffer; cert: Buffer } | null;
}

function readPem(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw configError(`listener.${key}: cannot read ${file}: ${(err as Error).message}`, 'E_CONFIG', err);
  }
}

/** How to fix a refusal, in the words of whoever gave the settings. */
interface PolicyFixes {
  openRelay: string;
  authWithoutTls: string;
}

const LIBRARY_FIXES: PolicyFixes = {
  openRelay: 'give settings.auth and settings.tls, or listen on 127.0.0.1',
  authWithoutTls: 'give settings.tls',
};

const CONFIG_FIXES: PolicyFixes = {
  openRelay: 'set listener.authUser, listener.authPass, listener.tlsKeyFile and listener.tlsCertFile, or listen on 127.0.0.1',
  authWithoutTls: 'set listener.tlsKeyFile and listener.tlsCertFile',
};

/** The policy above, the one place it is written: E_CONFIG unless it holds. */
function enforcePolicy(host: string, hasAuth: boolean, hasTls: boolean, fixes: PolicyFixes): void {
  if (!isLoopbackHost(host) && !hasAuth) {
    throw configError(`refusing to listen on ${host}: a non-loopback address needs AUTH over TLS (${fixes.openRelay})`, 'E_LISTENER_OPEN_RELAY');
  }
  if (hasAuth && !hasTls) {
    throw configError(`AUTH is offered only over TLS: ${fixes.authWithoutTls}`, 'E_LISTENER_AUTH_WITHOUT_TLS');
  }
}

/** The policy for ready settings (a library caller's own). */
export function checkListenerPolicy(settings: ListenerSettings): ListenerSettings {
  enforcePolicy(settings.host, settings.auth !== null, settings.tls !== null, LIBRARY_FIXES);
  return settings;
}

/** Checks the policy above and loads the TLS files. */
export function resolveListenerSettings(
  stored: StoredConfig['listener'],
  overrides: { host?: string; port?: number } = {},
): ListenerSettings {
  const host = overrides.host ?? stored.host;
  const port = overrides.port ?? stored.port;
  const hasUser = stored.authUser !== null && stored.authUser !== '';
  const hasPass = stored.authPass !== null && stored.authPass !== '';
  if (hasUser !== hasPass) throw configError('listener.authUser and listener.authPass must be set together');
  const hasKey = stored.tlsKeyFile !== null && stored.tlsKeyFile !== '';
  const hasCert = stored.tlsCertFile !== null && stored.tlsCertFile !== '';
  if (hasKey !== hasCert) throw configError('listener.tlsKeyFile and listener.tlsCertFile must be set together');
  // Before the TLS files are read: a refusal never depends on them.
  enforcePolicy(host, hasUser, hasKey, CONFIG_FIXES);
  return {
    host,
    port,
    maxMessageSize: stored.maxMessageSize,
    maxConnections: stored.maxConnections,
    idleTimeoutMs: parseDuration(stored.idleTimeout, 'listener.idleTimeout'),
    auth: hasUser ? { user: stored.authUser as string, pass: stored.authPass as string } : null,
    tls: hasKey
      ? { key: readPem(stored.tlsKeyFile as string, 'tlsKeyFile'), cert: readPem(stored.tlsCertFile as string, 'tlsCertFile') }
      : null,
  };
}
