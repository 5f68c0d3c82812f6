/**
 * A real SMTP smarthost for tests, on 127.0.0.1 and a port of its own
 * choosing (smtp-server). It records every accepted message (envelope and
 * bytes) and can be scripted to misbehave: per-recipient replies, a reply to
 * the final dot, a dropped connection after N transactions, going down and
 * coming back on the same port.
 */
import { once } from 'node:events';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface CapturedMessage {
  from: string;
  to: string[];
  raw: Buffer;
  sessionId: string;
  /** The transaction ran over TLS (STARTTLS or implicit). */
  secure: boolean;
  /** The client's EHLO name. */
  helo: string;
}

export interface Reply {
  code: number;
  message: string;
}

export interface CaptureOptions {
  /** Reply to MAIL FROM for this sender ('' is the null sender); null accepts. */
  mailFromReply?: (sender: string) => Reply | null;
  /** Reply to RCPT TO for this address; null accepts. */
  rcptReply?: (address: string) => Reply | null;
  /** Reply to the final dot of the n-th transaction (0-based); null accepts. */
  dataReply?: (n: number, to: string[]) => Reply | null;
  /**
   * After this many accepted transactions, the next one reads the whole
   * message and then the connection is cut before any reply (the "possible
   * duplicate" window); with dropBeforeDot, it is cut in the middle of DATA.
   */
  dropAfter?: number;
  dropBeforeDot?: boolean;
  /** Cut the connection, with no reply, at the n-th MAIL FROM (0-based) when this says so. */
  cutAtMailFrom?: (n: number) => boolean;
  /** Delay in ms before replying to each final dot (to keep transactions in flight). */
  dataDelayMs?: number;
  /**
   * After the reply to a transaction's final dot, close that connection
   * gracefully when this says so (a provider ending sessions, as on a token's
   * expiry); the reply is written before the close.
   */
  endAfter?: (session: SMTPServerSession) => boolean;
  /**
   * A provider's cap on connections at once: a connection beyond `limit`
   * open ones gets `reply` as its greeting and is closed (Exchange Online
   * refuses a fourth with 432 4.3.2; others answer 421).
   */
  maxConnections?: { limit: number; reply: Reply };
  /** Extra smtp-server options (TLS keys, auth handlers...). */
  server?: Partial<SMTPServerOptions>;
  /** The address to bind (127.0.0.2, 127.0.0.3...: an MX host of its own); default 127.0.0.1. */
  host?: string;
}

export interface CaptureServer {
  port: number;
  url: string;
  messages: CapturedMessage[];
  /** Transactions that reached the final dot, accepted or not. */
  transactions: number;
  /** The recipients of each transaction whose final dot arrived, accepted or not, in order. */
  dots: string[][];
  /** Resolves once at least `count` transactions have reached their final dot (replied to or not). */
  waitForDots(count: number, timeoutMs?: number): Promise<void>;
  connections: number;
  maxConcurrentConnections: number;
  /** Connections refused by `maxConnections`. */
  refusedConnections: number;
  /** Resolves once at least `count` messages are captured. */
  waitForMessages(count: number, timeoutMs?: number): Promise<void>;
  /** Stops listening and cuts every connection (the smarthost goes down). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Recipient address -> number of times it received a message. */
  deliveriesByRecipient(): Map<string, number>;
}

function smtpError(reply: Reply): Error {
  const err = new Error(reply.message) as Error & { responseCode: number };
  err.responseCode = reply.code;
  return err;
}

export async function startCaptureServer(options: CaptureOptions = {}, port = 0): Promise<CaptureServer> {
  const messages: CapturedMessage[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const dots: string[][] = [];
  const dotWaiters: { count: number; resolve: () => void }[] = [];
  let server: SMTPServer;
  let open = 0;
  const state = { transactions: 0, accepted: 0, connections: 0, max: 0, mailFroms: 0, refused: 0 };
  /** Sessions admitted (not refused by maxConnections) and not yet closed. */
  const admitted = new Set<string>();

  const notify = () => {
    for (const w of [...waiters]) {
      if (messages.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  const cut = (session: SMTPServerSession) => {
    for (const connection of (server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> })
      .connections) {
      if (connection.id === session.id) connection._socket.destroy();
    }
  };

  const endSession = (session: SMTPServerSession) => {
    for (const connection of (server as unknown as { connections: Set<{ id: string; close(): void }> }).connections) {
      if (connection.id === session.id) setImmediate(() => connection.close());
    }
  };

  const make = () =>
    new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      size: 100 * 1024 * 1024,
      onConnect(session, callback) {
        state.connections++;
        if (options.maxConnections !== undefined && open >= options.maxConnections.limit) {
          state.refused++;
          callback(smtpError(options.maxConnections.reply));
          return;
        }
        admitted.add(session.id);
        open++;
        state.max = Math.max(state.max, open);
        callback();
      },
      onClose(session) {
        if (admitted.delete(session.id)) open--;
      },
      onMailFrom(address, session, callback) {
        if (options.cutAtMailFrom?.(state.mailFroms++)) {
          cut(session);
          return;
        }
        const reply = options.mailFromReply?.(address.address ?? '') ?? null;
        callback(reply === null ? undefined : smtpError(reply));
      },
      onRcptTo(address, _session, callback) {
        const reply = options.rcptReply?.(address.address) ?? null;
        callback(reply === null ? undefined : smtpError(reply));
      },
      onData(stream, session, callback) {
        const to = session.envelope.rcptTo.map((r) => r.address);
        const dropping = options.dropAfter !== undefined && state.accepted >= options.dropAfter;
        if (dropping && options.dropBeforeDot) {
          stream.once('data', () => cut(session));
          stream.resume();
          return;
        }
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const n = state.transactions++;
          dots.push(to);
          for (const w of [...dotWaiters]) {
            if (dots.length >= w.count) {
              dotWaiters.splice(dotWaiters.indexOf(w), 1);
              w.resolve();
            }
          }
          if (dropping) {
            cut(session);
            return;
          }
          const reply = options.dataReply?.(n, to) ?? null;
          const finish = () => {
            if (reply !== null) {
              callback(smtpError(reply));
              return;
            }
            state.accepted++;
            const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
            const secure = Boolean((session as unknown as { secure?: boolean }).secure);
            messages.push({ from, to, raw: Buffer.concat(chunks), sessionId: session.id, secure, helo: session.hostNameAppearsAs });
            callback(null, 'Ok: queued');
            notify();
            if (options.endAfter?.(session)) endSession(session);
          };
          if (options.dataDelayMs) setTimeout(finish, options.dataDelayMs).unref();
          else finish();
        });
      },
      ...options.server,
    });

  let boundPort = port;
  const host = options.host ?? '127.0.0.1';
  const start = async () => {
    server = make();
    // A client killed mid-session resets its socket; smtp-server reports that
    // as an 'error' event, which must not crash the test process.
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(boundPort, host, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    boundPort = (server.server.address() as { port: number }).port;
  };
  await start();

  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of (server as unknown as { connections: Set<{ _socket: { destroy(): void } }> }).connections) {
      connection._socket.destroy();
    }
    await closed;
  };

  return {
    get port() {
      return boundPort;
    },
    get url() {
      return `smtp://${host}:${boundPort}`;
    },
    messages,
    get transactions() {
      return state.transactions;
    },
    get connections() {
      return state.connections;
    },
    dots,
    waitForDots(count, timeoutMs = 20_000) {
      if (dots.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} final dots (have ${dots.length})`)), timeoutMs);
        dotWaiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    get refusedConnections() {
      return state.refused;
    },
    get maxConcurrentConnections() {
      return state.max;
    },
    waitForMessages(count, timeoutMs = 20_000) {
      if (messages.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${count} messages (have ${messages.length})`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    stop,
    start,
    close: stop,
    deliveriesByRecipient() {
      const counts = new Map<string, number>();
      for (const m of messages) for (const to of m.to) counts.set(to, (counts.get(to) ?? 0) + 1);
      return counts;
    },
  };
}
