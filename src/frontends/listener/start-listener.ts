/**
 * Runs the SMTP listener: `bulkmailer listen` and the agent (when
 * listener.enabled) call startListener. It binds (127.0.0.1:2525 by
 * default; port 0 picks a free one), accepts mail into the spool, and
 * close() shuts it down gracefully: stop accepting connections, refuse new
 * transactions with 421, let every DATA in flight finish and get its reply,
 * then say 421 to the idle connections and close them.
 *
 * Fails before binding with E_CONFIG (exit 78) on a policy violation (see
 * listener-settings.ts), or with the bind error (EADDRINUSE: exit 73).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { BulkmailerError, ExitCode } from '../../errors.js';
import { openSpool } from '../../spool/index.js';
import { checkListenerPolicy, resolveListenerSettings, type ListenerSettings } from './listener-settings.js';
import { createSpoolSmtpServer, type AcceptedMessage } from './spool-smtp-server.js';

export interface ListenerOptions {
  home: string;
  /** Override listener.host / listener.port of the config. */
  host?: string;
  port?: number;
  /** Ready settings (skips reading config.json); the bind policy is still enforced. */
  settings?: ListenerSettings;
  /** Nudge a running agent after each message (default true). */
  nudge?: boolean;
  onAccepted?(message: AcceptedMessage): void;
  onRejected?(reply: number, reason: string): void;
}

export interface RunningListener {
  host: string;
  port: number;
  /** Stops accepting, finishes the transactions in flight, closes every connection. */
  close(): Promise<void>;
}

/** Upper bound on waiting for a client to leave after our 421 (smtp-server then cuts it). */
const CLOSE_TIMEOUT_MS = 10_000;

async function loadSettings(options: ListenerOptions): Promise<ListenerSettings> {
  if (options.settings) return checkListenerPolicy(options.settings);
  // Loaded lazily: conf is not needed when the caller brings its settings.
  const { loadStoredConfig } = await import('../../config/store.js');
  const overrides: { host?: string; port?: number } = {};
  if (options.host !== undefined) overrides.host = options.host;
  if (options.port !== undefined) overrides.port = options.port;
  return resolveListenerSettings(loadStoredConfig(options.home).listener, overrides);
}

export async function startListener(options: ListenerOptions): Promise<RunningListener> {
  const settings = await loadSettings(options);
  const spool = await openSpool(options.home);
  let closing = false;
  const { server, inFlight } = createSpoolSmtpServer(spool, settings, {
    isClosing: () => closing,
    nudge: options.nudge ?? true,
    ...(options.onAccepted ? { onAccepted: options.onAccepted } : {}),
    ...(options.onRejected ? { onRejected: options.onRejected } : {}),
  });
  server.options.closeTimeout = CLOSE_TIMEOUT_MS;
  // Errors of single connections are the client's problem; keep serving.
  server.on('error', () => {});

  server.listen(settings.port, settings.host.replace(/^\[|\]$/g, ''));
  try {
    await Promise.race([
      once(server.server, 'listening'),
      once(server.server, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new BulkmailerError('E_LISTEN', `cannot listen on ${settings.host}:${settings.port}: ${errno}`, {
      exitCode: errno === 'EACCES' ? ExitCode.noPerm : ExitCode.cantCreate,
      cause: err,
    });
  }
  const address = server.server.address() as AddressInfo;

  let closed: Promise<void> | null = null;
  const close = async () => {
    closing = true;
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Let every DATA in flight end with its reply before touching the connections.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await new Promise((resolve) => setImmediate(resolve));
    for (const connection of [...server.connections]) {
      connection.send(421, 'bulkmailer shutting down, try again later');
      connection.close();
    }
    await serverClosed;
  };

  return {
    host: address.address,
    port: address.port,
    close: () => (closed ??= close()),
  };
}
