/**
 * Runs the SMTP listener: `bulkmailer listen` and the agent (when
 * listener.enabled) call startListener. It binds (127.0.0.1:2525 by
 * default; port 0 picks a free one), accepts mail into the spool, and
 * close() shuts it down gracefully: stop accepting connections, refuse new
 * transactions with 421, let every DATA in flight finish and get its reply,
 * then say 421 to the idle connections and close them.
 *
 * With `socket`, it serves the same intake on a unix socket instead (the
 * design's local socket, for list software and scripts on this machine):
 * created 0600, so file permissions are the access control and no AUTH or
 * TLS applies. A stale socket file (nothing listening) is replaced; a live
 * one, or a path that is not a socket, is refused (exit 73), never removed.
 *
 * Fails before binding with E_CONFIG (exit 78) on a policy violation (see
 * listener-settings.ts) or TLS files that make no TLS context, or with the
 * bind error (EADDRINUSE: exit 73).
 */
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { BulkmailerError, configError, ExitCode } from '../../errors.js';
import { openSpool, settleCommits } from '../../spool/index.js';
import { checkListenerPolicy, resolveListenerSettings, type ListenerSettings } from './listener-settings.js';
import { createSpoolSmtpServer, type AcceptedMessage } from './spool-smtp-server.js';

export interface ListenerOptions {
  home: string;
  /** Override listener.host / listener.port of the config. */
  host?: string;
  port?: number;
  /** Listen on this unix socket path instead of host:port. */
  socket?: string;
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
  /** The unix socket path, when listening on one. */
  socket: string | null;
  /** Stops accepting, finishes the transactions in flight, closes every connection. */
  close(): Promise<void>;
}

/** Upper bound on waiting for a client to leave after our 421 (the intake then cuts it). */
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
  // One enqueue after another: each makes the next one's temp files during its fsync round.
  const spool = await openSpool(options.home, { spareFiles: true });
  let closing = false;
  const { server, inFlight } = createSpoolSmtpServer(spool, settings, {
    isClosing: () => closing,
    nudge: options.nudge ?? true,
    ...(options.onAccepted ? { onAccepted: options.onAccepted } : {}),
    ...(options.onRejected ? { onRejected: options.onRejected } : {}),
  });
  if (settings.tls !== null) {
    // A key and certificate that do not make a TLS context are refused before binding, not at the first STARTTLS.
    await server.tlsParts().catch((err: unknown) => {
      throw configError(`listener.tlsKeyFile/tlsCertFile: ${(err as Error).message}`, 'E_CONFIG', err);
    });
  }
  const where = options.socket ?? `${settings.host}:${settings.port}`;
  if (options.socket !== undefined) await clearStaleSocket(options.socket);
  // The socket file is created by bind(2) with the umask's mode: make it 0600 from the start.
  const umask = options.socket !== undefined ? process.umask(0o177) : null;
  try {
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      const done = () => {
        server.server.off('error', reject);
        resolve();
      };
      if (options.socket !== undefined) server.listen(options.socket, undefined, done);
      else server.listen(settings.port, settings.host.replace(/^\[|\]$/g, ''), done);
    });
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new BulkmailerError('E_LISTEN', `cannot listen on ${where}: ${errno}`, {
      exitCode: errno === 'EACCES' ? ExitCode.noPerm : ExitCode.cantCreate,
      cause: err,
    });
  } finally {
    if (umask !== null) process.umask(umask);
  }
  if (options.socket !== undefined) fs.chmodSync(options.socket, 0o600);
  const address = options.socket === undefined ? (server.server.address() as AddressInfo) : null;

  let closed: Promise<void> | null = null;
  const close = async () => {
    closing = true;
    const serverClosed = server.close(CLOSE_TIMEOUT_MS);
    // Let every DATA in flight end with its reply before touching the connections.
    await inFlight.settled();
    await new Promise((resolve) => setImmediate(resolve));
    for (const connection of [...server.connections]) {
      // A 421 closes the connection once written.
      connection.send(421, 'bulkmailer shutting down, try again later');
    }
    await serverClosed;
    // The commits' after-work (state/<bucket> fsynced, pending names removed), so tmp/ is left clean.
    await settleCommits();
    if (options.socket !== undefined) fs.rmSync(options.socket, { force: true });
  };

  return {
    host: address?.address ?? 'localhost',
    port: address?.port ?? 0,
    socket: options.socket ?? null,
    close: () => (closed ??= close()),
  };
}

/**
 * A socket file left by a listener that died is removed; one that still
 * answers belongs to a running listener, and anything that is not a socket
 * is the user's file: both are refused.
 */
async function clearStaleSocket(file: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch {
    return;
  }
  const refuse = (why: string) =>
    new BulkmailerError('E_LISTEN', `cannot listen on ${file}: ${why}`, { exitCode: ExitCode.cantCreate });
  if (!stat.isSocket()) throw refuse('it exists and is not a socket');
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw refuse('another listener is running on it (EADDRINUSE)');
  fs.rmSync(file, { force: true });
}
