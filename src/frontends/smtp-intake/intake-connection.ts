/**
 * One SMTP connection of the intake (intake-server.ts): reads commands off
 * the socket, answers them in order, and streams each DATA to the data
 * handler (message-body.ts) with dot-unstuffing (dot-decoder.ts).
 *
 * Order and writes: every command of a socket read is handled at once (the
 * MAIL and RCPT handlers answer synchronously) and its replies are gathered
 * into one string written once at the end of the read, so a pipelining
 * client gets MAIL's and every RCPT's replies in one write, and a client
 * that waits for each reply gets each at once. While an answer is pending
 * (the 250 after the spool's fsyncs, an asynchronous onConnect) whatever
 * the client sends is held, unread past HIGH_WATER_BYTES, and handled after
 * that answer, so replies never overtake each other. A client that
 * pipelines commands without reading the replies is not read either once
 * the socket's write buffer is full, until it drains: what we keep for it
 * stays bounded, as TCP's own push-back keeps the client's side.
 *
 * Limits: a command line over `maxLineBytes` is answered 421 and the
 * connection closed (nothing buffered beyond the limit); ten unrecognized
 * commands, an HTTP request line, or silence for `socketTimeoutMs` end it
 * with 421 too, and so do `maxUnauthenticatedCommands` commands without
 * AUTH when the server requires it. A message over `maxMessageSize` is refused with 552 after
 * its final dot; the reader gets an E_TOO_BIG error as soon as the limit is
 * passed, and the rest is read and discarded.
 *
 * STARTTLS (when the server has TLS): after the 220, whatever the client
 * sent behind the command in plaintext is dropped unanswered (the command
 * injection of CVE-2011-0411), the socket is handed to a server-side
 * TLSSocket, and the session starts over (EHLO again, no identity). A 421
 * due during the handshake (timeout, eviction, shutdown) cuts the
 * connection instead: plaintext there would land in the TLS stream. AUTH
 * PLAIN and LOGIN (sasl-exchange.ts) only over TLS, only when the server
 * offers AUTH.
 *
 * Failure: socket errors end the connection only; a client that goes away
 * mid-message makes the reader's next read fail (E_CONNECTION_LOST), so
 * nothing is stored; a handler that throws gets its client a 451.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { BulkmailerError, ExitCode, tempError } from '../../errors.js';
import { checkMailParams, CONTROL, CONTROLS, parseHeloName, parsePathCommand, tooBig, words } from './command-syntax.js';
import { DotDecoder } from './dot-decoder.js';
import { HIGH_WATER_BYTES, MessageBody } from './message-body.js';
import { startSasl, type SaslStep } from './sasl-exchange.js';
import type { IntakeReply, IntakeServer, IntakeSession, TlsParts } from './intake-server.js';

const LF = 0x0a;
const CR = 0x0d;
/** smtp-server's limit, kept: a client that sends this many unknown commands is not speaking SMTP. */
const MAX_UNRECOGNIZED = 10;
/** How long a connection we have ended may take to close its side before it is cut. */
const HALF_CLOSE_MS = 5_000;
/**
 * Why the socket is not being read (bits of `IntakeConnection.paused`): input
 * held behind a pending answer, message pieces its reader has not taken,
 * replies the client has not read (the socket's write() said its buffer is
 * full: reading more commands would only make more replies to keep).
 */
const PAUSED_HELD = 1;
const PAUSED_BODY = 2;
const PAUSED_OUTPUT = 4;
const HTTP_REQUEST = /^(OPTIONS|GET|HEAD|POST|PUT|DELETE|TRACE|CONNECT) \/.* HTTP\/\d\.\d$/i;

let connectionCount = 0;

/** The DATA in progress: its reader's answer and whether the final dot came. */
interface Transaction {
  body: MessageBody;
  reply: IntakeReply | null;
  oversized: boolean;
}

export class IntakeConnection implements IntakeSession {
  readonly id = `${process.pid}.${++connectionCount}`;
  readonly remoteAddress: string;
  readonly remotePort: number;
  secure = false;
  user: string | null = null;
  heloName: string | null = null;
  mailFrom: string | null = null;
  recipients: string[] = [];
  socket: net.Socket | tls.TLSSocket;

  /** This transaction's recipients compared without case; a fresh Set per transaction (resetTransaction says why). */
  private recipientKeys: Set<string> | null = null;
  private out = '';
  private held: Buffer | null = null;
  /** An answer is pending: input is held, not handled. */
  private busy = true;
  private inData = false;
  private readonly decoder = new DotDecoder();
  private transaction: Transaction | null = null;
  private authStep: ((line: string) => void) | null = null;
  private unrecognized = 0;
  /** Commands (AUTH aside) before authenticating, when AUTH is required. */
  private unauthenticated = 0;
  private upgrading = false;
  /** The TLS socket while its handshake runs (this.socket is still the plain one). */
  private handshaking: tls.TLSSocket | null = null;
  /** Close once what is written has gone (after QUIT, a 421). */
  private ending = false;
  /** socket.end() called. */
  private ended = false;
  private closed = false;
  /** The client has ended its side: answer what it sent, then close. */
  private clientEnded = false;
  /** Cuts a connection we have ended whose client does not close its side; cleared at the close. */
  private halfCloseTimer: NodeJS.Timeout | null = null;
  /** PAUSED_* bits: the socket is read only while this is 0 (updateReading()). */
  private paused = 0;
  private readonly onData = (chunk: Buffer): void => {
    if (this.closed || this.ending || this.upgrading) return;
    this.guarded(() => {
      this.consume(chunk);
      this.flush();
    });
  };
  /** What the client had not read has gone: read its commands again. */
  private readonly onDrain = (): void => this.setPaused(PAUSED_OUTPUT, false);
  private readonly pushPiece = (piece: Buffer): void => this.transaction?.body.push(piece);

  constructor(
    private readonly server: IntakeServer,
    socket: net.Socket,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? '127.0.0.1';
    this.remotePort = socket.remotePort ?? 0;
  }

  /** Starts serving: greets (or refuses) at once unless onConnect answers later. */
  start(): void {
    const socket = this.socket;
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', () => {});
    socket.once('close', () => this.closedBySocket());
    socket.once('end', () => this.endedByClient());
    this.armTimeout(socket);
    let verdict: IntakeReply | null | Promise<IntakeReply | null>;
    try {
      verdict = this.server.handlers.onConnect?.(this) ?? null;
    } catch {
      verdict = { code: 421, text: 'Error: try again later' };
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (refusal) => this.guarded(() => this.greet(refusal)),
        () => this.guarded(() => this.greet({ code: 421, text: 'Error: try again later' })),
      );
    } else {
      this.greet(verdict);
    }
  }

  /** A reply outside the dialogue (the connection guard's, shutdown's 421): written at once. */
  send(code: number, text: string): void {
    // During the TLS handshake a plaintext reply would land inside the TLS stream: cut instead.
    if (this.upgrading) return this.destroy();
    this.reply(code, text);
    this.flush();
  }

  /** Ends the connection after what is written; cut if the client does not close its side. */
  close(): void {
    this.ending = true;
    this.flush();
  }

  /** Cuts the connection now (shutdown's last resort). */
  destroy(): void {
    this.handshaking?.destroy();
    this.socket.destroy();
  }

  /**
   * Runs a step of this connection from an event or a promise: a bug in it
   * cuts this connection, never the process (an exception from a 'data'
   * listener would be uncaught, one from a then() an unhandled rejection).
   */
  private guarded(step: () => void): void {
    try {
      step();
    } catch {
      this.socket.destroy();
    }
  }

  private greet(refusal: IntakeReply | null): void {
    if (this.closed) return;
    if (refusal !== null) {
      this.reply(refusal.code, refusal.text);
      this.close();
      return;
    }
    const { name, banner } = this.server.options;
    this.reply(220, `${name} ESMTP ${banner}`);
    this.resumeHeld();
    this.flush();
  }

  private armTimeout(socket: net.Socket): void {
    socket.setTimeout(this.server.options.socketTimeoutMs);
    socket.on('timeout', () => {
      if (this.closed || this.ending) return;
      this.send(421, 'Timeout - closing connection');
    });
  }

  // ---- input -------------------------------------------------------------

  private consume(chunk: Buffer): void {
    let input = chunk;
    if (this.held !== null) {
      input = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
      this.held = null;
    }
    let pos = 0;
    while (pos < input.length) {
      if (this.closed || this.ending || this.upgrading) return;
      if (this.inData) {
        const rest = this.decoder.feed(pos === 0 ? input : input.subarray(pos), this.pushPiece);
        this.checkSize();
        if (rest === undefined) return;
        this.dataEnded();
        input = rest;
        pos = 0;
        continue;
      }
      if (this.busy) {
        this.hold(input.subarray(pos));
        return;
      }
      const lf = input.indexOf(LF, pos);
      const maxLine = this.server.options.maxLineBytes;
      if (lf < 0) {
        if (input.length - pos > maxLine) return this.lineTooLong();
        this.held = input.subarray(pos);
        return;
      }
      if (lf - pos > maxLine) return this.lineTooLong();
      const end = lf > pos && input[lf - 1] === CR ? lf - 1 : lf;
      const line = input.toString('utf8', pos, end);
      pos = lf + 1;
      this.command(line);
    }
  }

  /** Keeps input that arrives while an answer is pending; stops reading once it is a socket read's worth. */
  private hold(bytes: Buffer): void {
    this.held = this.held === null ? bytes : Buffer.concat([this.held, bytes]);
    if (this.held.length > HIGH_WATER_BYTES) this.setPaused(PAUSED_HELD, true);
  }

  /** The pending answer is out: handle what was held, read again. */
  private resumeHeld(): void {
    this.busy = false;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      this.consume(held);
    }
    if (!this.busy) this.setPaused(PAUSED_HELD, false);
  }

  /** Sets or clears one reason not to read the socket. */
  private setPaused(reason: number, on: boolean): void {
    const paused = on ? this.paused | reason : this.paused & ~reason;
    if (paused === this.paused) return;
    this.paused = paused;
    this.updateReading();
  }

  /** Reads the socket while nothing stands in the way; the one place that pauses or resumes it. */
  private updateReading(): void {
    // During the TLS handshake the plain socket is TLS's; the secured one starts reading at 'secure'.
    if (this.upgrading) return;
    if (this.paused === 0) this.socket.resume();
    else this.socket.pause();
  }

  private lineTooLong(): void {
    this.held = null;
    this.reply(421, 'Error: Command line too long');
  }

  // ---- replies -----------------------------------------------------------

  private reply(code: number, text: string): void {
    this.out += `${code} ${CONTROL.test(text) ? text.replace(CONTROLS, ' ') : text}\r\n`;
    // 421 closes the transmission channel (RFC 5321 3.8).
    if (code === 421) this.ending = true;
  }

  private flush(): void {
    if (this.out !== '' && !this.closed && !this.socket.destroyed) {
      // A client that does not read its replies is not read either until they have gone ('drain').
      if (!this.socket.write(this.out)) this.setPaused(PAUSED_OUTPUT, true);
    }
    this.out = '';
    if (this.clientEnded && this.inData) {
      // The input ended inside a message (its DATA was held behind an answer): abandoned.
      this.socket.destroy();
      return;
    }
    if (this.clientEnded && !this.busy) this.ending = true;
    if (this.ending && !this.ended && !this.closed) {
      this.ended = true;
      this.socket.end();
      const socket = this.socket;
      this.halfCloseTimer = setTimeout(() => socket.destroy(), HALF_CLOSE_MS);
      this.halfCloseTimer.unref();
    }
  }

  // ---- commands ----------------------------------------------------------

  private command(line: string): void {
    const step = this.authStep;
    if (step !== null) {
      this.authStep = null;
      step(line);
      return;
    }
    if (this.server.closing) {
      this.reply(421, 'Server shutting down');
      return;
    }
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    if (this.user === null && this.server.options.auth && verb !== 'AUTH') {
      // AUTH is required: a client that keeps talking without it is not one of ours (smtp-server's limit).
      if (++this.unauthenticated >= this.server.options.maxUnauthenticatedCommands) {
        return this.reply(421, 'Error: too many unauthenticated commands');
      }
    }
    try {
      switch (verb) {
        case 'EHLO':
        case 'HELO':
          return this.hello(verb, line);
        case 'MAIL':
          return this.mail(line);
        case 'RCPT':
          return this.rcpt(line);
        case 'DATA':
          return this.data();
        case 'RSET':
          this.resetTransaction();
          return this.reply(250, 'Flushed');
        case 'NOOP':
          return this.reply(250, 'OK');
        case 'QUIT':
          this.reply(221, 'Bye');
          this.ending = true;
          return;
        case 'HELP':
          return this.reply(214, 'See https://tools.ietf.org/html/rfc5321 for details');
        case 'VRFY':
          if (words(line).length < 2) return this.reply(501, 'Error: Syntax: VRFY address');
          return this.reply(252, 'Try to send something. No promises though');
        case 'STARTTLS':
          if (this.server.options.tls !== null) return this.startTls(line);
          break;
        case 'AUTH':
          if (this.server.options.auth) return this.auth(line);
          break;
      }
    } catch {
      // A handler's bug answers this command only; the connection and the server go on.
      return this.reply(451, 'Error: internal server error');
    }
    if (++this.unrecognized >= MAX_UNRECOGNIZED) return this.reply(421, 'Error: too many unrecognized commands');
    if (HTTP_REQUEST.test(line)) return this.reply(421, 'HTTP requests not allowed');
    this.reply(500, 'Error: command not recognized');
  }

  private hello(verb: string, line: string): void {
    const name = parseHeloName(line);
    if (name === null) {
      if (words(line).length !== 2) return this.reply(501, verb === 'EHLO' ? 'Error: syntax: EHLO hostname' : 'Error: Syntax: HELO hostname');
      return this.reply(501, 'Error: Bad hostname syntax');
    }
    this.heloName = name.toLowerCase();
    this.resetTransaction();
    const options = this.server.options;
    const greeting = `${options.name} Nice to meet you, [${this.remoteAddress}]`;
    if (verb === 'HELO') return this.reply(250, greeting);
    let text = `250-${greeting}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n`;
    if (options.auth && this.secure && this.user === null) text += '250-AUTH PLAIN LOGIN\r\n';
    if (options.tls !== null && !this.secure) text += '250-STARTTLS\r\n';
    this.out += `${text}250 SIZE ${options.maxMessageSize}\r\n`;
  }

  private mail(line: string): void {
    if (this.heloName === null) return this.reply(503, 'Error: send HELO/EHLO first');
    const parsed = parsePathCommand(line, 'MAIL FROM');
    if (parsed === null) return this.reply(501, 'Error: Bad sender address syntax');
    if (parsed.duplicate !== null) return this.reply(501, `Error: duplicate ${parsed.duplicate} parameter`);
    if (this.mailFrom !== null) return this.reply(503, 'Error: nested MAIL command');
    const refused = checkMailParams(parsed.params, this.server.options.maxMessageSize);
    if (refused !== null) return this.reply(refused.code, refused.text);
    const verdict = this.server.handlers.onMailFrom(parsed.address, this);
    if (verdict !== null) return this.reply(verdict.code, verdict.text);
    this.mailFrom = parsed.address;
    this.reply(250, 'Accepted');
  }

  private rcpt(line: string): void {
    if (this.heloName === null) return this.reply(503, 'Error: send HELO/EHLO first');
    const parsed = parsePathCommand(line, 'RCPT TO');
    if (parsed === null || parsed.address === '') return this.reply(501, 'Error: Bad recipient address syntax');
    if (parsed.duplicate !== null) return this.reply(501, `Error: duplicate ${parsed.duplicate} parameter`);
    if (this.mailFrom === null) return this.reply(503, 'Error: need MAIL command');
    const verdict = this.server.handlers.onRcptTo(parsed.address, this);
    if (verdict !== null) return this.reply(verdict.code, verdict.text);
    // A repeated recipient (compared without case, as smtp-server did) is accepted once.
    const key = parsed.address.toLowerCase();
    const keys = (this.recipientKeys ??= new Set());
    if (!keys.has(key)) {
      keys.add(key);
      this.recipients.push(parsed.address);
    }
    this.reply(250, 'Accepted');
  }

  private data(): void {
    if (this.heloName === null) return this.reply(503, 'Error: send HELO/EHLO first');
    if (this.recipients.length === 0) return this.reply(503, 'Error: need RCPT command');
    const body = new MessageBody(
      () => this.pauseBody(true),
      () => this.pauseBody(false),
      this.server.options.bodyHighWaterBytes,
    );
    const transaction: Transaction = { body, reply: null, oversized: false };
    this.transaction = transaction;
    this.decoder.start();
    this.inData = true;
    this.reply(354, 'End data with <CR><LF>.<CR><LF>');
    let answer: Promise<IntakeReply>;
    try {
      answer = this.server.handlers.onData(body, this);
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (reply) => this.guarded(() => this.dataAnswered(transaction, reply)),
      () => this.guarded(() => this.dataAnswered(transaction, { code: 451, text: 'Error: internal server error' })),
    );
  }

  private pauseBody(pause: boolean): void {
    this.setPaused(PAUSED_BODY, pause);
  }

  private checkSize(): void {
    const transaction = this.transaction;
    const max = this.server.options.maxMessageSize;
    if (transaction === null || transaction.oversized || max <= 0 || this.decoder.bytes <= max) return;
    transaction.oversized = true;
    transaction.body.fail(
      new BulkmailerError('E_TOO_BIG', `message exceeds the size limit of ${max} bytes`, { exitCode: ExitCode.dataErr }),
    );
  }

  /** The final dot: answer now if the reader has, else hold input until it does. */
  private dataEnded(): void {
    this.inData = false;
    const transaction = this.transaction as Transaction;
    transaction.body.end();
    if (transaction.reply !== null) this.answerData(transaction);
    else this.busy = true;
  }

  private dataAnswered(transaction: Transaction, reply: IntakeReply): void {
    transaction.reply = reply;
    if (this.transaction !== transaction) return;
    if (this.inData) {
      // Answered before the final dot (a refusal at the header): the rest is read and dropped.
      transaction.body.return();
      return;
    }
    this.answerData(transaction);
    this.resumeHeld();
    this.flush();
  }

  private answerData(transaction: Transaction): void {
    // A reader that stopped with pieces still queued would leave the socket paused: release it.
    void transaction.body.return();
    const reply = transaction.reply as IntakeReply;
    const answer = transaction.oversized && reply.code >= 300 ? tooBig(this.server.options.maxMessageSize) : reply;
    this.reply(answer.code, answer.text);
    this.resetTransaction();
  }

  private resetTransaction(): void {
    this.mailFrom = null;
    this.recipients = [];
    this.recipientKeys = null;
    this.transaction = null;
  }

  // ---- STARTTLS and AUTH -------------------------------------------------

  private startTls(line: string): void {
    if (words(line).length > 1) return this.reply(501, 'Error: syntax: STARTTLS');
    if (this.secure) return this.reply(503, 'Error: TLS already active');
    // node:tls is loaded at the first STARTTLS; until then what the client sends is held (and then dropped).
    this.busy = true;
    this.server.tlsParts().then(
      (parts) => this.guarded(() => this.upgrade(parts)),
      () =>
        this.guarded(() => {
          this.reply(454, 'TLS not available due to temporary reason');
          this.resumeHeld();
          this.flush();
        }),
    );
  }

  private upgrade({ TLSSocket, context }: TlsParts): void {
    if (this.closed || this.ending) return;
    this.reply(220, 'Ready to start TLS');
    this.flush();
    // Plaintext the client sent behind STARTTLS is dropped unanswered (CVE-2011-0411).
    this.upgrading = true;
    this.held = null;
    const raw = this.socket as net.Socket;
    raw.removeListener('data', this.onData);
    raw.removeListener('drain', this.onDrain);
    raw.removeAllListeners('timeout');
    raw.setTimeout(0);
    const secured = new TLSSocket(raw, { isServer: true, secureContext: context });
    this.handshaking = secured;
    const fail = () => {
      secured.destroy();
      raw.destroy();
    };
    secured.on('error', fail);
    secured.once('close', () => this.closedBySocket());
    // The plain socket's 'end' no longer comes: a client half-closing over TLS is noticed here.
    secured.once('end', () => this.guarded(() => this.endedByClient()));
    this.armTimeout(secured);
    secured.once('secure', () => this.guarded(() => {
      if (this.closed) return;
      this.socket = secured;
      this.handshaking = null;
      this.secure = true;
      this.upgrading = false;
      this.busy = false;
      // RFC 3207 4.2: nothing learnt before TLS counts.
      this.heloName = null;
      this.user = null;
      this.resetTransaction();
      // Nothing is held (dropped above), no message is open, and the client has read our 220
      // (else it could not have made the handshake): no reason left not to read.
      this.paused = 0;
      secured.on('data', this.onData);
      secured.on('drain', this.onDrain);
      this.updateReading();
    }));
  }

  private auth(line: string): void {
    if (!this.secure) return this.reply(538, 'Error: Must issue a STARTTLS command first');
    if (this.heloName === null) return this.reply(503, 'Error: send HELO/EHLO first');
    if (this.user !== null) return this.reply(503, 'Error: No identity changes permitted');
    this.sasl(startSasl(words(line).slice(1)));
  }

  private sasl(step: SaslStep): void {
    if ('reply' in step) {
      const next = step.next;
      if (next !== undefined) this.authStep = (line) => this.sasl(next(line));
      return this.reply(step.reply.code, step.reply.text);
    }
    const ok = this.server.handlers.authenticate?.(step.username, step.password, this) ?? false;
    if (!ok) return this.reply(535, 'Error: authentication failed');
    this.user = step.username;
    this.reply(235, 'Authentication successful');
  }

  // ---- the end -----------------------------------------------------------

  /**
   * The client half-closed (`printf ... | nc`): the commands it sent are
   * still answered, then the connection is closed. A message without its
   * final dot is abandoned.
   */
  private endedByClient(): void {
    if (this.closed) return;
    if (this.inData) {
      this.socket.destroy();
      return;
    }
    this.clientEnded = true;
    this.flush();
  }

  private closedBySocket(): void {
    if (this.closed) return;
    this.closed = true;
    this.authStep = null;
    // The timer would keep the socket, and through its listeners this connection, for its 5 s.
    if (this.halfCloseTimer !== null) clearTimeout(this.halfCloseTimer);
    this.halfCloseTimer = null;
    if (this.inData && this.transaction !== null) {
      this.transaction.body.fail(tempError('the client closed the connection in the middle of the message', 'E_CONNECTION_LOST'));
    }
    this.server.forget(this);
  }
}
