/**
 * The SMTP intake: the server side of SMTP that the listener (and `sendmail
 * -bs`) needs, and nothing else, written for this job instead of
 * smtp-server (docs/frontends.md, "The intake"; docs/performance.md, "The
 * listener's own intake": smtp-server cost ~0.7 ms of CPU per message over
 * a bare `net` server's ~0.3, at ~600 against ~1,000 messages a second).
 *
 * It owns the listening socket and the set of open connections
 * (intake-connection.ts does the dialogue); what to do with a sender, a
 * recipient, a message, a password or a new connection is asked of the
 * handlers. It stores nothing: the handlers decide, and the 250 to the
 * final dot is whatever their answer is, written once they have answered.
 *
 * What it speaks: EHLO/HELO, MAIL (SIZE, BODY, SMTPUTF8), RCPT, DATA, RSET,
 * NOOP, QUIT, HELP, VRFY; PIPELINING; STARTTLS when given a key and
 * certificate; AUTH PLAIN and LOGIN over TLS when `auth` is set. Not: BDAT,
 * DSN, XCLIENT, LMTP, implicit TLS.
 *
 * close() stops accepting, answers every later command 421, and cuts what
 * is still open after its timeout. Errors of one socket end that connection
 * only.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { loadBuiltinModule } from '../../builtin-module.js';
import { IntakeConnection } from './intake-connection.js';
import { HIGH_WATER_BYTES } from './message-body.js';

export interface IntakeReply {
  code: number;
  /** One line; control characters become spaces. */
  text: string;
}

/** What the handlers see of a connection. */
export interface IntakeSession {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly secure: boolean;
  /** The authenticated user, null before AUTH. */
  readonly user: string | null;
  /** The EHLO/HELO name, lower case; null before it. */
  readonly heloName: string | null;
  /** The transaction's sender: null outside a transaction, '' for the null sender <>. */
  readonly mailFrom: string | null;
  readonly recipients: readonly string[];
  /** Writes a reply at once (outside the dialogue: a 421 before closing). */
  send(code: number, text: string): void;
  /** Ends the connection once what is written has gone. */
  close(): void;
}

export interface IntakeHandlers {
  /** A refusal for a new connection (it then gets that reply and is closed), or null to greet it. */
  onConnect?(session: IntakeSession): IntakeReply | null | Promise<IntakeReply | null>;
  /** MAIL FROM: a refusal, or null to accept (answered 250). */
  onMailFrom(address: string, session: IntakeSession): IntakeReply | null;
  /** RCPT TO: a refusal, or null to accept. */
  onRcptTo(address: string, session: IntakeSession): IntakeReply | null;
  /**
   * DATA: the message, streamed (dot-unstuffed, up to and with the CRLF
   * before the final dot). Resolves to the reply for the final dot; it is
   * written once the dot has come and the promise has settled. A rejection
   * is answered 451.
   */
  onData(message: AsyncIterable<Buffer>, session: IntakeSession): Promise<IntakeReply>;
  /** AUTH PLAIN/LOGIN over TLS: whether these credentials are good. */
  authenticate?(username: string, password: string, session: IntakeSession): boolean;
  onClose?(session: IntakeSession): void;
}

export interface IntakeOptions {
  /** The host name in the greeting and the EHLO reply. */
  name: string;
  banner: string;
  /** SIZE advertised and enforced (552). */
  maxMessageSize: number;
  /** STARTTLS is offered when set. */
  tls: { key: Buffer; cert: Buffer } | null;
  /** AUTH PLAIN LOGIN is offered, over TLS only, and required: see maxUnauthenticatedCommands. */
  auth: boolean;
  /** With `auth`: the command count (AUTH aside) before authenticating at which a client gets 421 (smtp-server's 10). */
  maxUnauthenticatedCommands: number;
  /** Silence after which a connection is told 421 and closed (smtp-server's default, 60 s). */
  socketTimeoutMs: number;
  /** Longest command line taken (smtp-server's 16 KiB: long enough for AUTH, bounded). */
  maxLineBytes: number;
  /** Unread message bytes past which the socket is paused (message-body.ts; smaller in tests). */
  bodyHighWaterBytes: number;
}

/** What STARTTLS needs: node:tls's server-side socket and the context of our key and certificate. */
export interface TlsParts {
  TLSSocket: typeof tls.TLSSocket;
  context: tls.SecureContext;
}

export const INTAKE_DEFAULTS = {
  socketTimeoutMs: 60_000,
  maxUnauthenticatedCommands: 10,
  maxLineBytes: 16 * 1024,
  bodyHighWaterBytes: HIGH_WATER_BYTES,
} as const;

export class IntakeServer {
  readonly server: net.Server;
  readonly connections = new Set<IntakeSession>();
  readonly options: IntakeOptions;
  /** close() was called: commands are answered 421. */
  closing = false;
  private tls: Promise<TlsParts> | null = null;

  constructor(
    options: Omit<IntakeOptions, keyof typeof INTAKE_DEFAULTS> & Partial<IntakeOptions>,
    readonly handlers: IntakeHandlers,
  ) {
    this.options = { ...INTAKE_DEFAULTS, ...options };
    // noDelay: every write is a whole batch of replies, to be sent now. allowHalfOpen: a
    // client that ends its side after its last command still gets the answers.
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
  }

  /** Serves a connected socket (the TCP server's connections come here). */
  accept(socket: net.Socket): IntakeSession {
    const connection = new IntakeConnection(this, socket);
    this.connections.add(connection);
    connection.start();
    return connection;
  }

  /** For a connection that has closed. */
  forget(connection: IntakeSession): void {
    if (!this.connections.delete(connection)) return;
    try {
      this.handlers.onClose?.(connection);
    } catch {
      // The connection is gone either way.
    }
  }

  /**
   * node:tls and our context, at the first STARTTLS: a listener without TLS
   * (the default, loopback) never loads the TLS stack.
   */
  tlsParts(): Promise<TlsParts> {
    const keys = this.options.tls;
    if (keys === null) return Promise.reject(new Error('STARTTLS without a key and certificate'));
    return (this.tls ??= loadBuiltinModule<typeof tls>('node:tls', () => import('node:tls')).then((module) => ({
      TLSSocket: module.TLSSocket,
      context: module.createSecureContext({ key: keys.key, cert: keys.cert }),
    })));
  }

  /** A port on `host`, or a unix socket's path (host omitted). */
  listen(where: number | string, host?: string, done?: () => void): void {
    if (typeof where === 'string') this.server.listen(where, done);
    else this.server.listen(where, host, done);
  }

  /**
   * Stops accepting; commands from now on get 421. Resolves once every
   * connection has closed; those still open after `timeoutMs` are cut.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const cut = setTimeout(() => {
      for (const connection of this.connections) (connection as IntakeConnection).destroy();
    }, timeoutMs);
    cut.unref();
    return closed.finally(() => clearTimeout(cut));
  }
}
