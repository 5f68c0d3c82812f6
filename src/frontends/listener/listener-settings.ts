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
import net from 'node:net';
import { configError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import type { StoredConfig } from '../../config/schema.js';

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

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (bare.startsWith('::ffff:')) return isLoopbackHost(bare.slice(7));
  return false;
}

function readPem(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw configError(`listener.${key}: cannot read ${file}: ${(err as Error).message}`, 'E_CONFIG', err);
  }
}

/** The policy above for ready settings (a library caller's own): E_CONFIG unless it holds. */
export function checkListenerPolicy(settings: ListenerSettings): ListenerSettings {
  if (!isLoopbackHost(settings.host) && settings.auth === null) {
    throw configError(`refusing to listen on ${settings.host}: a non-loopback address needs AUTH over TLS`, 'E_LISTENER_OPEN_RELAY');
  }
  if (settings.auth !== null && settings.tls === null) {
    throw configError('AUTH is offered only over TLS: listener settings with auth need tls', 'E_LISTENER_AUTH_WITHOUT_TLS');
  }
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
  if (!isLoopbackHost(host) && !hasUser) {
    throw configError(
      `refusing to listen on ${host}: a non-loopback address needs AUTH (set listener.authUser, listener.authPass, ` +
        'listener.tlsKeyFile and listener.tlsCertFile), or listen on 127.0.0.1',
      'E_LISTENER_OPEN_RELAY',
    );
  }
  if (hasUser && !hasKey) {
    throw configError(
      'listener.authUser is set but AUTH is offered only over TLS: set listener.tlsKeyFile and listener.tlsCertFile',
      'E_LISTENER_AUTH_WITHOUT_TLS',
    );
  }
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
