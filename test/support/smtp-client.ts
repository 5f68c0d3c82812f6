/**
 * The raw SMTP client of every test that speaks SMTP byte by byte (the
 * intake, the listener, `sendmail -bs`): it writes exactly what a test
 * gives it (pipelined commands, unusual bytes, a message cut in half) and
 * reads replies one by one, multi-line replies joined. openRaw() is a
 * client past the greeting and EHLO, sendRawMessage() one whole
 * transaction; both assert each reply they expect.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Readable } from 'node:stream';
import tls from 'node:tls';

export interface SmtpReply {
  code: number;
  lines: string[];
  text: string;
}

/** Parses complete replies off the front of `buffer`; returns them and the rest. */
export function parseReplies(buffer: string): { replies: SmtpReply[]; rest: string } {
  const replies: SmtpReply[] = [];
  let lines: string[] = [];
  let rest = buffer;
  for (;;) {
    const end = rest.indexOf('\r\n');
    if (end < 0) break;
    const line = rest.slice(0, end);
    rest = rest.slice(end + 2);
    lines.push(line);
    if (line[3] !== '-') {
      replies.push({ code: Number(line.slice(0, 3)), lines, text: lines.map((l) => l.slice(4)).join('\n') });
      lines = [];
    }
  }
  // Keep a partial multi-line reply for later.
  if (lines.length > 0) rest = lines.map((l) => `${l}\r\n`).join('') + rest;
  return { replies, rest };
}

export class RawSmtpClient {
  private buffer = '';
  private readonly ready: SmtpReply[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private readonly onData = (data: string): void => {
    const { replies, rest } = parseReplies(this.buffer + data);
    this.buffer = rest;
    this.ready.push(...replies);
    this.wake();
  };
  private readonly onClose = (): void => {
    this.closed = true;
    this.wake();
  };

  /** Writes go to `socket`; replies come from `replies`, the same socket unless made by over(). */
  private constructor(
    public socket: net.Socket,
    replies: Readable = socket,
  ) {
    this.listen(replies);
  }

  private listen(replies: Readable): void {
    replies.setEncoding('latin1');
    replies.on('data', this.onData);
    replies.on('close', this.onClose);
    replies.on('error', () => {});
  }

  /**
   * A client that writes to `socket` and reads the replies from another
   * stream: `sendmail -bs` with a connection as its stdin (inetd) and its
   * stdout a pipe.
   */
  static over(socket: net.Socket, replies: Readable): RawSmtpClient {
    socket.on('error', () => {});
    return new RawSmtpClient(socket, replies);
  }

  /**
   * After the server's 220 to STARTTLS: a TLS handshake over this
   * connection, then replies are read from the TLS socket. Replies not yet
   * read from the plain connection are dropped (there must be none).
   */
  async startTls(options: tls.ConnectionOptions): Promise<void> {
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('close', this.onClose);
    const secured = tls.connect({ ...options, socket: raw });
    await new Promise<void>((resolve, reject) => {
      secured.once('secureConnect', resolve);
      secured.once('error', reject);
    });
    this.socket = secured;
    this.listen(secured);
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** A port on `host`, or a unix socket's path. */
  static connect(port: number | string, host = '127.0.0.1'): Promise<RawSmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = typeof port === 'string' ? net.connect(port) : net.connect(port, host);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawSmtpClient(socket));
      });
    });
  }

  /** The next reply (the greeting first). Rejects when the connection closes first. */
  async reply(): Promise<SmtpReply> {
    for (;;) {
      const next = this.ready.shift();
      if (next) return next;
      if (this.closed) throw new Error(`connection closed while waiting for a reply (unparsed: ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, (err) => (err ? reject(err) : resolve())),
    );
  }

  async command(line: string): Promise<SmtpReply> {
    await this.write(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves once the server has closed the connection. */
  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => (this.waiter = resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** SMTP dot-stuffing plus the terminating dot, for a message with CRLF line endings. */
export function dataBlock(message: string | Buffer): Buffer {
  const text = Buffer.isBuffer(message) ? message.toString('latin1') : Buffer.from(message, 'utf8').toString('latin1');
  const stuffed = text.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${stuffed}${stuffed.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1');
}

export interface OpenRawOptions {
  /** The name sent with EHLO (default client.example.org); false: stop after the greeting. */
  ehlo?: string | false;
  /** The greeting's text, when a test checks it. */
  greeting?: string;
  /** A test (its TestContext) that closes the client when it ends. */
  closeAfter?: { after(fn: () => void): void };
}

/**
 * A raw client on a port of 127.0.0.1 (or a unix socket's path) past the
 * greeting, which must be 220, and, unless told otherwise, EHLO, which must
 * be 250.
 */
export async function openRaw(port: number | string, options: OpenRawOptions = {}): Promise<RawSmtpClient> {
  const client = await RawSmtpClient.connect(port);
  options.closeAfter?.after(() => client.close());
  const greeting = await client.reply();
  assert.equal(greeting.code, 220, greeting.text);
  if (options.greeting !== undefined) assert.equal(greeting.text, options.greeting);
  const name = options.ehlo ?? 'client.example.org';
  if (name !== false) {
    const ehlo = await client.command(`EHLO ${name}`);
    assert.equal(ehlo.code, 250, ehlo.text);
  }
  return client;
}

/** MAIL, the RCPTs (each must get 250), DATA (354) and the message; the reply to the final dot. */
export async function sendRawMessage(client: RawSmtpClient, from: string, to: string[], message: string | Buffer): Promise<SmtpReply> {
  const mail = await client.command(`MAIL FROM:<${from}>`);
  assert.equal(mail.code, 250, mail.text);
  for (const rcpt of to) {
    const reply = await client.command(`RCPT TO:<${rcpt}>`);
    assert.equal(reply.code, 250, reply.text);
  }
  const data = await client.command('DATA');
  assert.equal(data.code, 354, data.text);
  await client.write(dataBlock(message));
  return client.reply();
}
