/**
 * The SMTP intake (src/frontends/smtp-intake/) over real sockets on
 * 127.0.0.1, with handlers that keep each message in memory (the
 * listener's tests cover the spool behind it): pipelining and the order of
 * replies, dot-unstuffing, the end of DATA only at CRLF.CRLF (the SMTP
 * smuggling defence), long lines, sequence errors, RSET, SIZE, STARTTLS
 * with the tests' self-signed certificate and the plaintext a client
 * pipelines behind it dropped, AUTH PLAIN and LOGIN, a client that leaves
 * mid-message, a half-closing client (plaintext and TLS), handlers that
 * throw or answer early, the socket timeout, and what is kept for a client
 * that floods commands (unread replies, input held behind an answer).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IntakeServer, type IntakeHandlers, type IntakeReply, type IntakeSession } from '../../src/frontends/smtp-intake/intake-server.js';
import { ROOT } from '../support/cli.js';
import { dataBlock, openRaw, RawSmtpClient, type SmtpReply } from '../support/smtp-client.js';

const CERT = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'localhost-cert.pem'));
const KEY = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'localhost-key.pem'));

interface Received {
  from: string;
  to: string[];
  message: Buffer;
}

interface Started {
  port: number;
  server: IntakeServer;
  received: Received[];
  /** What each onData's reading ended with: 'done' or the error's code. */
  endings: string[];
}

async function startIntake(
  t: TestContext,
  options: { maxMessageSize?: number; tls?: boolean; auth?: boolean; bodyHighWaterBytes?: number; socketTimeoutMs?: number } = {},
  handlers: Partial<IntakeHandlers> = {},
): Promise<Started> {
  const received: Received[] = [];
  const endings: string[] = [];
  const server = new IntakeServer(
    {
      name: 'intake.test',
      banner: 'ready',
      maxMessageSize: options.maxMessageSize ?? 100_000,
      tls: options.tls ? { key: KEY, cert: CERT } : null,
      auth: options.auth ?? false,
      ...(options.bodyHighWaterBytes === undefined ? {} : { bodyHighWaterBytes: options.bodyHighWaterBytes }),
      ...(options.socketTimeoutMs === undefined ? {} : { socketTimeoutMs: options.socketTimeoutMs }),
    },
    {
      onMailFrom: () => null,
      onRcptTo: (address) => (address.endsWith('@refused.example') ? { code: 550, text: 'no such user' } : null),
      async onData(message: AsyncIterable<Buffer>, session: IntakeSession): Promise<IntakeReply> {
        const chunks: Buffer[] = [];
        try {
          for await (const chunk of message) chunks.push(chunk);
        } catch (err) {
          endings.push((err as { code?: string }).code ?? 'error');
          return { code: 451, text: 'not taken' };
        }
        endings.push('done');
        received.push({ from: session.mailFrom as string, to: [...session.recipients], message: Buffer.concat(chunks) });
        return { code: 250, text: `queued as m${received.length}` };
      },
      authenticate: (user, pass) => user === 'list' && pass === 's3cret',
      ...handlers,
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  t.after(() => server.close(1_000));
  const { port } = server.server.address() as net.AddressInfo;
  return { port, server, received, endings };
}

/** A raw client past this intake's greeting (its text checked) and, unless `ehlo` is false, EHLO; closed when the test ends. */
function connect(t: TestContext, port: number, ehlo = true): Promise<RawSmtpClient> {
  return openRaw(port, { closeAfter: t, greeting: 'intake.test ESMTP ready', ehlo: ehlo ? 'client.example' : false });
}

/** MAIL from a@example.org, RCPT to b@example.org, DATA: each must be accepted. */
async function beginData(client: RawSmtpClient): Promise<void> {
  assert.deepEqual(
    [await client.command('MAIL FROM:<a@example.org>'), await client.command('RCPT TO:<b@example.org>'), await client.command('DATA')].map((r) => r.code),
    [250, 250, 354],
  );
}

/** Sends each command in turn; each must get its code. */
async function dialogue(client: RawSmtpClient, steps: Array<[string, number]>): Promise<void> {
  for (const [command, code] of steps) assert.equal((await client.command(command)).code, code, command);
}

async function replies(client: RawSmtpClient, count: number): Promise<SmtpReply[]> {
  const all: SmtpReply[] = [];
  for (let i = 0; i < count; i++) all.push(await client.reply());
  return all;
}

test('pipelined commands and two pipelined messages are answered in order, each stored as sent', async (t) => {
  const { port, received } = await startIntake(t);
  const client = await RawSmtpClient.connect(port);
  t.after(() => client.close());
  // Everything in one write, before even the greeting is read.
  await client.write(
    'EHLO client.example\r\nMAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<b@example.org>\r\n' +
      'RCPT TO:<c@refused.example>\r\nRCPT TO:<B@example.org>\r\nDATA\r\n' +
      'Subject: one\r\n\r\nfirst\r\n.\r\n' +
      'MAIL FROM:<>\r\nRCPT TO:<d@example.org>\r\nDATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n',
  );
  const all = await replies(client, 13);
  assert.deepEqual(
    all.map((r) => r.code),
    [220, 250, 250, 250, 550, 250, 354, 250, 250, 250, 354, 250, 221],
  );
  assert.equal(all[7]?.text, 'queued as m1');
  assert.equal(all[11]?.text, 'queued as m2');
  assert.ok(all[1]?.lines.some((l) => l === '250-PIPELINING'));
  await client.waitClosed();
  assert.deepEqual(
    received.map((r) => [r.from, r.to, r.message.toString()]),
    [
      ['a@example.org', ['b@example.org'], 'Subject: one\r\n\r\nfirst\r\n'],
      ['', ['d@example.org'], 'Subject: two\r\n\r\nsecond\r\n'],
    ],
  );
});

test('EHLO says what smtp-server said for the listener: PIPELINING, 8BITMIME, SMTPUTF8, SIZE; no STARTTLS or AUTH unless given', async (t) => {
  const { port } = await startIntake(t, { maxMessageSize: 1234 });
  const client = await connect(t, port, false);
  const ehlo = await client.command('EHLO client.example');
  assert.deepEqual(ehlo.lines, [
    '250-intake.test Nice to meet you, [127.0.0.1]',
    '250-PIPELINING',
    '250-8BITMIME',
    '250-SMTPUTF8',
    '250 SIZE 1234',
  ]);
  assert.equal((await client.command('HELO client.example')).text, 'intake.test Nice to meet you, [127.0.0.1]');
  await dialogue(client, [
    ['STARTTLS', 500],
    ['AUTH PLAIN', 500],
    ['HELP', 214],
    ['VRFY someone', 252],
    ['VRFY', 501],
    ['NOOP', 250],
    ['EHLO', 501],
  ]);
  assert.equal((await client.command('QUIT')).code, 221);
});

test('dot-unstuffing: lines that start with "." and ".." arrive as sent, the message ends only at CRLF.CRLF', async (t) => {
  const { port, received } = await startIntake(t);
  const client = await connect(t, port);
  const message = 'Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n..\r\nlast\r\n';
  await beginData(client);
  await client.write(dataBlock(message));
  assert.equal((await client.reply()).code, 250);
  assert.equal(received[0]?.message.toString(), message);
});

test('smuggling: "\\n.\\n" and "\\r\\n.\\n" inside DATA are text, so a second message hidden behind them is not taken', async (t) => {
  const { port, received } = await startIntake(t);
  const client = await connect(t, port);
  await beginData(client);
  const hidden =
    'Subject: one\r\n\r\nhi\n.\nMAIL FROM:<evil@example.org>\nRCPT TO:<victim@example.org>\nDATA\nSubject: forged\n\nx\r\n.\n' +
    'RSET\r\n';
  await client.write(`${hidden}.\r\n`);
  const reply = await client.reply();
  assert.equal(reply.code, 250);
  assert.equal((await client.command('NOOP')).code, 250, 'no reply is owed to a hidden command');
  assert.equal(received.length, 1);
  // All of it is the one message; the dot of the line ".\n" (after a CRLF) is a leading dot, removed.
  assert.equal(received[0]?.message.toString(), hidden.replace('x\r\n.\n', 'x\r\n\n'));
  assert.deepEqual(received[0]?.to, ['b@example.org']);
});

test('sequence errors: 503 before EHLO, without MAIL, without RCPT, for a nested MAIL; 500 for unknown; RSET ends the transaction', async (t) => {
  const { port } = await startIntake(t);
  const client = await connect(t, port, false);
  await dialogue(client, [
    ['MAIL FROM:<a@example.org>', 503],
    ['EHLO client.example', 250],
    ['RCPT TO:<b@example.org>', 503],
    ['DATA', 503],
    ['MAIL FROM:<a@example.org>', 250],
    ['MAIL FROM:<a@example.org>', 503],
    ['DATA', 503], // no recipient yet
    ['RCPT TO:<b@example.org>', 250],
    ['RSET', 250],
    ['DATA', 503], // RSET dropped the transaction
    ['MAIL FROM:a@example.org', 501],
    ['MAIL FROM:<a@example.org> SIZE=1 SIZE=2', 501],
    ['RCPT TO:<>', 501],
    ['XYZZY', 500],
  ]);
});

test('ten unknown commands, or an HTTP request, get 421 and the connection is closed', async (t) => {
  const { port } = await startIntake(t);
  const client = await connect(t, port);
  for (let i = 1; i < 10; i++) assert.equal((await client.command(`BOGUS${i}`)).code, 500);
  assert.equal((await client.command('BOGUS10')).code, 421);
  await client.waitClosed();
  const web = await connect(t, port, false);
  assert.equal((await web.command('GET / HTTP/1.1')).code, 421);
  await web.waitClosed();
});

test('a command line over 16 KiB is answered 421 and closed, with or without its line end; a long DATA line is fine', async (t) => {
  const { port, received } = await startIntake(t);
  const withEnd = await connect(t, port);
  assert.equal((await withEnd.command(`NOOP ${'x'.repeat(17 * 1024)}`)).code, 421);
  await withEnd.waitClosed();
  const endless = await connect(t, port);
  await endless.write('x'.repeat(40 * 1024));
  assert.equal((await endless.reply()).code, 421);
  await endless.waitClosed();
  const client = await connect(t, port);
  await beginData(client);
  await client.write(dataBlock(`Subject: long\r\n\r\n${'y'.repeat(50_000)}\r\n`));
  assert.equal((await client.reply()).code, 250);
  assert.equal(received[0]?.message.length, 'Subject: long\r\n\r\n'.length + 50_002);
});

test('SIZE: over the limit at MAIL is 552; a message over it is 552 after its dot, its reader told E_TOO_BIG; the connection goes on', async (t) => {
  const { port, received, endings } = await startIntake(t, { maxMessageSize: 1000 });
  const client = await connect(t, port);
  assert.equal((await client.command('MAIL FROM:<a@example.org> SIZE=1001')).code, 552);
  assert.equal((await client.command('MAIL FROM:<a@example.org> SIZE=lots')).code, 501);
  assert.equal((await client.command('MAIL FROM:<a@example.org> SIZE=1000')).code, 250);
  assert.equal((await client.command('RCPT TO:<b@example.org>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  await client.write(dataBlock(`Subject: big\r\n\r\n${'z\r\n'.repeat(2000)}`));
  const refused = await client.reply();
  assert.equal(refused.code, 552);
  assert.match(refused.text, /maximum message size 1000/);
  assert.deepEqual(endings, ['E_TOO_BIG']);
  assert.equal(received.length, 0);
  await beginData(client);
  await client.write(dataBlock('Subject: small\r\n\r\nok\r\n'));
  assert.equal((await client.reply()).code, 250);
  assert.equal(received.length, 1);
});

test('STARTTLS: TLS with the self-signed certificate, EHLO again required, then AUTH offered; AUTH PLAIN with and without initial response, AUTH LOGIN', async (t) => {
  const { port } = await startIntake(t, { tls: true, auth: true });
  const plain = Buffer.from('\0list\0s3cret').toString('base64');
  const wrong = Buffer.from('\0list\0nope').toString('base64');
  const secure = async (): Promise<RawSmtpClient> => {
    const client = await connect(t, port, false);
    const ehlo = await client.command('EHLO client.example');
    assert.ok(ehlo.lines.includes('250-STARTTLS'));
    assert.equal(ehlo.lines.some((l) => l.includes('AUTH')), false, 'no AUTH before TLS');
    assert.equal((await client.command(`AUTH PLAIN ${plain}`)).code, 538);
    assert.equal((await client.command('STARTTLS')).code, 220);
    await client.startTls({ ca: CERT, servername: 'localhost' });
    assert.equal((await client.command('MAIL FROM:<a@example.org>')).code, 503, 'EHLO again after TLS');
    const again = await client.command('EHLO client.example');
    assert.ok(again.lines.some((l) => l.endsWith('AUTH PLAIN LOGIN')));
    assert.equal(again.lines.some((l) => l.includes('STARTTLS')), false);
    assert.equal((await client.command('STARTTLS')).code, 503);
    return client;
  };
  const first = await secure();
  assert.equal((await first.command(`AUTH PLAIN ${wrong}`)).code, 535);
  assert.equal((await first.command(`AUTH PLAIN ${plain}`)).code, 235);
  assert.equal((await first.command(`AUTH PLAIN ${plain}`)).code, 503, 'no identity change');
  const withoutInitial = await secure();
  assert.equal((await withoutInitial.command('AUTH PLAIN')).code, 334);
  assert.equal((await withoutInitial.command(plain)).code, 235);
  const login = await secure();
  const user = await login.command('AUTH LOGIN');
  assert.deepEqual([user.code, user.text], [334, 'VXNlcm5hbWU6']);
  const pass = await login.command(Buffer.from('list').toString('base64'));
  assert.deepEqual([pass.code, pass.text], [334, 'UGFzc3dvcmQ6']);
  assert.equal((await login.command(Buffer.from('s3cret').toString('base64'))).code, 235);
  const aborted = await secure();
  assert.equal((await aborted.command('AUTH LOGIN')).code, 334);
  assert.equal((await aborted.command('*')).code, 501);
  assert.equal((await aborted.command('AUTH MD5')).code, 504);
});

test('STARTTLS: plaintext pipelined behind the command is dropped unanswered (CVE-2011-0411)', async (t) => {
  const { port, received } = await startIntake(t, { tls: true });
  const client = await connect(t, port);
  await client.write('STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.org>\r\n');
  assert.equal((await client.reply()).code, 220);
  await client.startTls({ ca: CERT, servername: 'localhost' });
  assert.equal((await client.command('EHLO client.example')).code, 250, 'the first reply over TLS is the one to EHLO');
  assert.equal((await client.command('RCPT TO:<b@example.org>')).code, 503, 'the injected MAIL was never taken');
  await beginData(client);
  await client.write(dataBlock('Subject: tls\r\n\r\nsecret\r\n'));
  assert.equal((await client.reply()).code, 250);
  assert.deepEqual(received.map((r) => [r.from, r.to]), [['a@example.org', ['b@example.org']]]);
});

test('a client that leaves mid-message: the reader is told E_CONNECTION_LOST, nothing is taken, the server serves the next', async (t) => {
  const { port, received, endings } = await startIntake(t);
  const client = await connect(t, port);
  await beginData(client);
  await client.write('Subject: cut\r\n\r\nhalf a mes');
  client.close();
  while (endings.length === 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(endings, ['E_CONNECTION_LOST']);
  assert.equal(received.length, 0);
  const next = await connect(t, port);
  assert.equal((await next.command('NOOP')).code, 250);
});

test('a client that half-closes after its last command still gets every reply, the 250 after a slow reader included', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { port, received } = await startIntake(t, {}, {
    async onData(message) {
      const chunks: Buffer[] = [];
      for await (const chunk of message) chunks.push(chunk);
      await gate;
      received.push({ from: '', to: [], message: Buffer.concat(chunks) });
      return { code: 250, text: 'queued late' };
    },
  });
  const client = await connect(t, port);
  await client.write('MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\ny\r\n.\r\nNOOP\r\nQUIT\r\n');
  client.socket.end();
  const early = await replies(client, 3);
  assert.deepEqual(early.map((r) => r.code), [250, 250, 354]);
  release();
  const late = await replies(client, 3);
  assert.deepEqual(late.map((r) => [r.code, r.text]), [[250, 'queued late'], [250, 'OK'], [221, 'Bye']]);
  await client.waitClosed();
  assert.equal(received.length, 1);
});

test('a reader that answers before the final dot: the rest is read and dropped, the reply comes after the dot, in order', async (t) => {
  const { port } = await startIntake(t, { maxMessageSize: 1_000_000 }, {
    onData: async () => ({ code: 554, text: 'not a message' }),
  });
  const client = await connect(t, port);
  await beginData(client);
  await client.write('line one\r\n');
  await client.write(`${'filler\r\n'.repeat(20_000)}.\r\nNOOP\r\n`);
  assert.deepEqual(
    (await replies(client, 2)).map((r) => r.code),
    [554, 250],
  );
});

test('handlers that throw: the command gets 451 (DATA too), the connection and the server go on', async (t) => {
  const { port } = await startIntake(t, {}, {
    onMailFrom: (address) => {
      if (address === 'boom@example.org') throw new Error('handler bug');
      return null;
    },
    onData: () => {
      throw new Error('data handler bug');
    },
  });
  const client = await connect(t, port);
  assert.equal((await client.command('MAIL FROM:<boom@example.org>')).code, 451);
  await beginData(client);
  await client.write(dataBlock('Subject: x\r\n\r\ny\r\n'));
  assert.equal((await client.reply()).code, 451);
  assert.equal((await client.command('NOOP')).code, 250);
});

test('close(): later commands get 421 Server shutting down, and the connection is closed', async (t) => {
  const { port, server } = await startIntake(t);
  const client = await connect(t, port);
  const closed = server.close(5_000);
  assert.equal((await client.command('NOOP')).code, 421);
  await client.waitClosed();
  await closed;
});

test('an onConnect that answers later: input sent meanwhile is answered after the greeting; a refusal is the only reply', async (t) => {
  let connections = 0;
  const { port } = await startIntake(t, {}, {
    // Every other connection is refused, the first one included.
    onConnect: async () => {
      const refuse = connections++ % 2 === 0;
      await new Promise((resolve) => setImmediate(resolve));
      return refuse ? { code: 554, text: 'not your session' } : null;
    },
  });
  for (let i = 0; i < 4; i++) {
    const client = await RawSmtpClient.connect(port);
    t.after(() => client.close());
    await client.write('EHLO early.example\r\nNOOP\r\n');
    const first = await client.reply();
    if (i % 2 === 1) {
      assert.deepEqual([first.code, (await client.reply()).code, (await client.reply()).code], [220, 250, 250]);
    } else {
      assert.deepEqual([first.code, first.text], [554, 'not your session']);
      await client.waitClosed();
    }
  }
});

test('a reader that stops with message pieces still queued (the socket paused for them) does not leave the connection deaf', { timeout: 60_000 }, async (t) => {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  // The socket is paused as soon as one byte waits unread, whatever the reads' sizes.
  const { port, server } = await startIntake(t, { bodyHighWaterBytes: 1 }, {
    async onData(message) {
      await gate;
      // One piece, then give up without telling the iterator (no return(), unlike a for-await's break).
      await message[Symbol.asyncIterator]().next();
      return { code: 452, text: 'cannot store it now' };
    },
  });
  const client = await connect(t, port);
  await beginData(client);
  // Lines that start with a dot: the message is several pieces (each removed dot splits it), so one read leaves some queued.
  await client.write(dataBlock('Subject: queued\r\n\r\n.one\r\n.two\r\n.three\r\n'));
  const [connection] = server.connections as Set<unknown> as Set<{ socket: net.Socket }>;
  while (!connection?.socket.isPaused()) await new Promise((resolve) => setImmediate(resolve));
  open();
  assert.equal((await client.reply()).code, 452);
  assert.equal((await client.command('NOOP')).code, 250, 'the socket is read again after the answer');
});

/** The server side of the intake's only connection, once it has one. */
async function serverSocket(server: IntakeServer): Promise<net.Socket> {
  while (server.connections.size === 0) await new Promise((resolve) => setImmediate(resolve));
  const [connection] = server.connections as Set<unknown> as Set<{ socket: net.Socket }>;
  return (connection as { socket: net.Socket }).socket;
}

/** Records the most the socket has kept unsent after any write. */
function watchUnsent(socket: net.Socket): { most: number } {
  const seen = { most: socket.writableLength };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]) => {
    const flushed = write(...args);
    seen.most = Math.max(seen.most, socket.writableLength);
    return flushed;
  }) as typeof socket.write;
  return seen;
}

/** Every line `socket` receives until it closes, checked against `expected(index)`; resolves to the count. */
function readLines(socket: net.Socket, expected: (index: number) => string): Promise<{ count: number; wrong: string | null }> {
  return new Promise((resolve) => {
    let carry = '';
    let count = 0;
    let wrong: string | null = null;
    socket.setEncoding('latin1');
    socket.on('data', (data: string) => {
      const lines = (carry + data).split('\r\n');
      carry = lines.pop() as string;
      for (const line of lines) {
        if (wrong === null && line !== expected(count)) wrong = `line ${count}: ${JSON.stringify(line)}, expected ${JSON.stringify(expected(count))}`;
        count++;
      }
    });
    socket.once('close', () => resolve({ count, wrong }));
    socket.resume();
  });
}

test('a client that pipelines commands and never reads the replies is not read either: what the server keeps for it stays bounded, and every reply comes in order once it reads', { timeout: 120_000 }, async (t) => {
  const { port, server } = await startIntake(t);
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  t.after(() => client.destroy());
  // Nothing is read from the server until the end.
  client.pause();
  const socket = await serverSocket(server);
  const unsent = watchUnsent(socket);
  // 8 MiB of commands, ~14 MiB of replies: more than the kernel's buffers of both sides hold.
  const pairs = 700_000;
  let drained = false;
  client.write('NOOP\r\nRSET\r\n'.repeat(pairs));
  client.write('QUIT\r\n', () => {});
  client.once('drain', () => (drained = true));
  // Either the server stops reading (the mend), or it has read everything (so has written every reply somewhere).
  while (!socket.isPaused() && !drained) await new Promise((resolve) => setImmediate(resolve));
  const last = 2 * pairs + 1;
  const got = await readLines(client, (i) => (i === 0 ? '220 intake.test ESMTP ready' : i === last ? '221 Bye' : i % 2 === 1 ? '250 OK' : '250 Flushed'));
  assert.equal(got.wrong, null);
  assert.equal(got.count, last + 1);
  assert.ok(unsent.most < 1024 * 1024, `the server kept ${unsent.most} bytes of replies unsent`);
});

test('a TLS client that half-closes after its commands gets every reply (the 250 after a slow reader too) and then the close, not the socket timeout\'s 421', { timeout: 60_000 }, async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  // Without 'end' watched on the TLS socket, the connection would sit until this timeout and end with its 421.
  const { port, server } = await startIntake(t, { tls: true, socketTimeoutMs: 5_000 }, {
    async onData(message) {
      for await (const chunk of message) void chunk;
      await gate;
      return { code: 250, text: 'queued late' };
    },
  });
  const client = await connect(t, port);
  assert.equal((await client.command('STARTTLS')).code, 220);
  await client.startTls({ ca: CERT, servername: 'localhost' });
  await client.write('EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\ny\r\n.\r\nNOOP\r\n');
  client.socket.end();
  // The answer to the dot comes only once the server has seen the client's end.
  await serverSocket(server);
  const [connection] = server.connections as Set<unknown> as Set<{ socket: net.Socket }>;
  // (the connection's socket is the TLS one once the server has seen the handshake end)
  while (!connection?.socket.readableEnded) await new Promise((resolve) => setImmediate(resolve));
  release();
  assert.deepEqual((await replies(client, 6)).map((r) => r.code), [250, 250, 250, 354, 250, 250]);
  await client.waitClosed();
  await assert.rejects(client.reply(), /connection closed/, 'nothing after the replies (no 421 Timeout)');
  while (server.connections.size > 0) await new Promise((resolve) => setImmediate(resolve));
});

test('a connection that has closed is not kept (its half-close timer is cleared with the close)', async (t) => {
  // A full collection on demand: the flag is set for this process, gc() taken from a fresh context.
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { port, server } = await startIntake(t);
  const client = await connect(t, port);
  await serverSocket(server);
  const kept = new WeakRef([...server.connections][0] as object);
  assert.equal((await client.command('QUIT')).code, 221);
  await client.waitClosed();
  while (server.connections.size > 0) await new Promise((resolve) => setImmediate(resolve));
  // A WeakRef's target lives at least to the end of the job that made it: collect in a later one.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.equal(kept.deref(), undefined, 'the closed connection is still referenced');
});

test('silence during the TLS handshake cuts the connection: no plaintext 421 inside the TLS stream', async (t) => {
  const { port, server } = await startIntake(t, { tls: true, socketTimeoutMs: 200 });
  const client = await connect(t, port);
  assert.equal((await client.command('STARTTLS')).code, 220);
  // No ClientHello: the server's socket timeout comes while it waits for the handshake.
  await client.waitClosed();
  await assert.rejects(client.reply(), /connection closed while waiting for a reply \(unparsed: ""\)/, 'not a byte after the 220');
  while (server.connections.size > 0) await new Promise((resolve) => setImmediate(resolve));
});

test('silence for socketTimeoutMs gets 421 Timeout, then the close', async (t) => {
  const { port, server } = await startIntake(t, { socketTimeoutMs: 100 });
  const client = await connect(t, port);
  // Nothing more is sent.
  const reply = await client.reply();
  assert.deepEqual([reply.code, reply.text], [421, 'Timeout - closing connection']);
  await client.waitClosed();
  while (server.connections.size > 0) await new Promise((resolve) => setImmediate(resolve));
});

test('commands flooded while a DATA answer is pending are held, and the socket is not read past a bound; all are answered after it, in order', { timeout: 120_000 }, async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { port, server } = await startIntake(t, {}, {
    async onData(message) {
      for await (const chunk of message) void chunk;
      await gate;
      return { code: 250, text: 'queued late' };
    },
  });
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  t.after(() => client.destroy());
  const socket = await serverSocket(server);
  // 16 MiB of NOOP behind a message whose 250 waits: more than the kernel's buffers of both sides hold.
  const noops = 2_800_000;
  let drained = false;
  client.write('HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\ny\r\n.\r\n');
  client.write('NOOP\r\n'.repeat(noops));
  client.write('QUIT\r\n', () => {});
  client.once('drain', () => (drained = true));
  // Either the server stops reading (it holds at most a read past its 64 KiB), or it has read what the kernel does not hold.
  while (!socket.isPaused() && !drained) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(socket.bytesRead < 1024 * 1024, `the server read ${socket.bytesRead} bytes while its answer was pending`);
  release();
  const fixed = ['220 intake.test ESMTP ready', '250 intake.test Nice to meet you, [127.0.0.1]', '250 Accepted', '250 Accepted', '354 End data with <CR><LF>.<CR><LF>', '250 queued late'];
  const last = fixed.length + noops;
  const got = await readLines(client, (i) => (i < fixed.length ? (fixed[i] as string) : i === last ? '221 Bye' : '250 OK'));
  assert.equal(got.wrong, null);
  assert.equal(got.count, last + 1);
});

test('control characters in a reply, C1 (U+0080-U+009F) included, go out as spaces: one line, nothing for a terminal', async (t) => {
  const { port } = await startIntake(t, {}, { onMailFrom: () => ({ code: 550, text: 'no\r\n250 fake\u009b[31m\u0085x' }) });
  const client = await connect(t, port);
  const reply = await client.command('MAIL FROM:<a@example.org>');
  assert.deepEqual([reply.code, reply.lines], [550, ['550 no  250 fake [31m x']]);
});
