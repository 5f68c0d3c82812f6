/**
 * The demo's smarthost: a small SMTP sink on 127.0.0.1 (smtp-server) that
 * accepts everything, keeps only the envelope of each accepted transaction
 * (never the bytes: the demo only counts), and can be started late on a
 * port chosen in advance, so the queue first meets an "offline" smarthost.
 *
 * Not a test helper: it ships with bulkmailer for `bulkmailer demo`. It
 * stops by closing its listener and cutting open connections.
 */
import net from 'node:net';
import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';

export interface SinkTransaction {
  /** Accepted at (ms since the epoch). */
  at: number;
  to: string[];
}

export interface SinkSmarthost {
  readonly port: number;
  readonly transactions: SinkTransaction[];
  /** Called after each accepted transaction. */
  onAccepted: ((t: SinkTransaction) => void) | null;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the sink binds it later; a clash fails loudly at start). */
export async function pickFreePort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export function createSinkSmarthost(port: number, options: { delayMs?: number } = {}): SinkSmarthost {
  let server: SMTPServer | null = null;
  const sink: SinkSmarthost = {
    port,
    transactions: [],
    onAccepted: null,
    async start() {
      const s = new SMTPServer({
        logger: false,
        banner: 'bulkmailer demo sink',
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        onData(stream, session, callback) {
          stream.on('data', () => {});
          stream.on('end', () => {
            const accept = () => {
              const t = { at: Date.now(), to: session.envelope.rcptTo.map((r) => r.address) };
              sink.transactions.push(t);
              callback(null, 'Ok: captured by the demo sink');
              sink.onAccepted?.(t);
            };
            if (options.delayMs) setTimeout(accept, options.delayMs);
            else accept();
          });
        },
      });
      s.listen(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => {
        s.server.once('listening', resolve);
        s.once('error', reject);
      });
      // From now on a client reset (the demo kills a flush) is routine.
      s.on('error', () => {});
      server = s;
    },
    async stop() {
      const s = server;
      server = null;
      if (s === null) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const connection of (s as unknown as { connections: Set<{ _socket?: { destroy(): void } }> }).connections ?? []) {
        connection._socket?.destroy();
      }
      await closed;
    },
  };
  return sink;
}
