/**
 * The SMTP listener over real TCP on 127.0.0.1 with a real spool in a temp
 * home: nodemailer and a raw-socket client send; the spool must hold
 * exactly the envelope and bytes of every message answered 250, and nothing
 * for any other reply. Covers dot-stuffing, 8-bit and UTF-8, over-long
 * lines, pipelining, SIZE (552), malformed messages (554), spool failure
 * (452), throwing hooks, 20 clients x 50 messages, the bind policy (also
 * for ready settings), AUTH over TLS, the nudge to the agent, the work
 * after each 250 counted in inFlight until it has run (what shutdown awaits),
 * and graceful shutdown on SIGTERM (child process). The greeting without a pause:
 * listener-greeting.test.ts; memory while streaming a big message:
 * listener-memory.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { startListener, type RunningListener } from '../../src/frontends/listener/start-listener.js';
import { createSpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { isLoopbackHost } from '../../src/config/smarthost.js';
import { BulkmailerError } from '../../src/errors.js';
import { listenForNudges, listEntryIds, messagePath, openSpool, readEntryState, settleCommits, type Spool } from '../../src/spool/index.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { dataBlock, openRaw, RawSmtpClient, sendRawMessage } from '../support/smtp-client.js';
import { ROOT, runCli, startListen } from '../support/cli.js';

const CERT = path.join(ROOT, 'test', 'fixtures', 'localhost-cert.pem');
const KEY = path.join(ROOT, 'test', 'fixtures', 'localhost-key.pem');

function queuedId(text: string): string {
  const match = /queued as ([0-9a-z]{17})/.exec(text);
  assert.ok(match, `no queue id in ${JSON.stringify(text)}`);
  return match[1] as string;
}

async function storedMessage(spool: Spool, id: string): Promise<Buffer> {
  return fs.readFile(messagePath(spool, id));
}

/** tmp/ once the listener's commits have finished their after-work (a pending name stays until state/<b> is fsynced). */
async function tmpFiles(spool: Spool): Promise<string[]> {
  await settleCommits();
  return fs.readdir(spool.tmp);
}

describe('SMTP listener on loopback', () => {
  let temp: TempHome;
  let spool: Spool;
  let listener: RunningListener;

  before(async () => {
    temp = await makeTempHome();
    await writeConfig(temp.home, { listener: { maxMessageSize: 200_000 } });
    spool = await openSpool(temp.home);
    listener = await startListener({ home: temp.home, port: 0 });
  });
  after(async () => {
    await listener.close();
    await temp.cleanup();
  });

  it('binds 127.0.0.1 and advertises SIZE, 8BITMIME, SMTPUTF8, PIPELINING, no AUTH', async () => {
    assert.equal(listener.host, '127.0.0.1');
    const client = await RawSmtpClient.connect(listener.port);
    await client.reply();
    const ehlo = await client.command('EHLO client.example.org');
    for (const ext of ['SIZE 200000', '8BITMIME', 'SMTPUTF8', 'PIPELINING']) assert.ok(ehlo.lines.some((l) => l.endsWith(ext)), ext);
    assert.equal(ehlo.lines.some((l) => /AUTH|STARTTLS/.test(l)), false);
    await client.command('QUIT');
    client.close();
  });

  it('stores the envelope and the bytes a nodemailer client sends, exactly', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
    const raw =
      'From: List <list@example.org>\r\nTo: members@example.org\r\nSubject: =?UTF-8?Q?r=C3=A9union?=\r\n' +
      'Message-ID: <exact-1@example.org>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n\r\nLine one.\r\n\r\n  indented\r\nLast.\r\n';
    const info = await transport.sendMail({
      envelope: { from: 'list-bounces@example.org', to: ['a@example.net', 'B@Example.NET'] },
      raw,
    });
    transport.close();
    const id = queuedId(info.response);
    assert.deepEqual(await storedMessage(spool, id), Buffer.from(raw));
    const state = await readEntryState(spool, id);
    assert.equal(state?.from, 'list-bounces@example.org');
    assert.deepEqual(state?.recipients.map((r) => r.address), ['a@example.net', 'B@example.net']);
    assert.equal(state?.subject, 'réunion');
    assert.equal(state?.messageId, '<exact-1@example.org>');
    assert.equal(state?.size, Buffer.byteLength(raw));
  });

  it('un-stuffs dot-leading lines, keeps 8-bit and UTF-8 byte for byte, breaks over-long lines (issue 11 item 7)', async () => {
    const client = await openRaw(listener.port);
    const longLine = 'x'.repeat(50_000);
    const body = Buffer.concat([
      Buffer.from('From: Zoë <zoe@exämple.org>\r\nTo: ü@example.org\r\nSubject: Grüße ✓\r\n\r\n', 'utf8'),
      Buffer.from('.leading dot\r\n..two dots\r\n.\r\n'.replace('.\r\n', '. \r\n'), 'latin1'),
      Buffer.from([0xe9, 0xff, 0x80, 0x0d, 0x0a]),
      Buffer.from(`${longLine}\r\nend\r\n`),
    ]);
    assert.equal((await client.command('MAIL FROM:<zoë@exämple.org> BODY=8BITMIME SMTPUTF8')).code, 250);
    assert.equal((await client.command('RCPT TO:<ü@example.org>')).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    await client.write(dataBlock(body));
    const reply = await client.reply();
    assert.equal(reply.code, 250, reply.text);
    const id = queuedId(reply.text);
    const stored = await storedMessage(spool, id);
    // The 50,000-octet line is broken at 998 octets by CRLF + space (docs/frontends.md); nothing else changes.
    assert.ok(stored.toString('latin1').split('\r\n').every((line) => line.length <= 998));
    assert.deepEqual(Buffer.from(stored.toString('latin1').replaceAll('\r\n ', ''), 'latin1'), body);
    const state = await readEntryState(spool, id);
    // The domain as A-labels (any smarthost takes it); the local part needs SMTPUTF8 and keeps it.
    assert.equal(state?.from, 'zoë@xn--exmple-cua.org');
    assert.equal(state?.subject, 'Grüße ✓');
    await client.command('QUIT');
    client.close();
  });

  it('takes many pipelined messages on one connection and many recipients each', async () => {
    const client = await openRaw(listener.port);
    const recipients = Array.from({ length: 1500 }, (_, i) => `member${i}@example.org`);
    let commands = '';
    for (let m = 0; m < 5; m++) {
      commands += 'MAIL FROM:<list@example.org>\r\n';
      for (const r of recipients) commands += `RCPT TO:<${r}>\r\n`;
      commands += 'DATA\r\n';
      await client.write(commands);
      commands = '';
      for (let i = 0; i < 1 + recipients.length; i++) assert.equal((await client.reply()).code, 250);
      assert.equal((await client.reply()).code, 354);
      await client.write(dataBlock(`Subject: post ${m}\r\n\r\nbody ${m}\r\n`));
      const reply = await client.reply();
      assert.equal(reply.code, 250);
      const state = await readEntryState(spool, queuedId(reply.text));
      assert.equal(state?.recipients.length, 1500);
      assert.equal(state?.subject, `post ${m}`);
    }
    client.close();
  });

  it('refuses a message over the SIZE limit with 552 and stores nothing', async () => {
    const before = await listEntryIds(spool);
    const client = await openRaw(listener.port);
    assert.equal((await client.command('MAIL FROM:<a@example.org> SIZE=300000')).code, 552);
    const big = `Subject: big\r\n\r\n${'y'.repeat(998)}\r\n`.repeat(1).concat(`${'z'.repeat(998)}\r\n`.repeat(250));
    const reply = await sendRawMessage(client, 'a@example.org', ['b@example.org'], big);
    assert.equal(reply.code, 552, reply.text);
    // The connection goes on.
    const ok = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'Subject: small\r\n\r\nok\r\n');
    assert.equal(ok.code, 250);
    client.close();
    const after = await listEntryIds(spool);
    assert.deepEqual(after.filter((id) => !before.includes(id)), [queuedId(ok.text)]);
    assert.deepEqual(await tmpFiles(spool), []);
  });

  it('refuses what is not a message (554) and bad addresses (5xx), storing nothing', async () => {
    const before = await listEntryIds(spool);
    const client = await openRaw(listener.port);
    assert.equal((await client.command('MAIL FROM:<not an address>')).code >= 500, true);
    assert.equal((await client.command('MAIL FROM:<a@example.org>')).code, 250);
    assert.ok((await client.command('RCPT TO:<nodomain>')).code >= 500);
    assert.equal((await client.command('RSET')).code, 250);
    const reply = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'no header here\r\n\r\nbody\r\n');
    assert.equal(reply.code, 554, reply.text);
    client.close();
    assert.deepEqual(await listEntryIds(spool), before);
    assert.deepEqual(await tmpFiles(spool), []);
  });

  it('answers 452 and stores nothing when the spool cannot take the message, then recovers', async () => {
    const before = await listEntryIds(spool);
    // A file where spool/tmp should be: every write into tmp/ fails (ENOTDIR), even as root.
    await fs.rename(spool.tmp, `${spool.tmp}.away`);
    await fs.writeFile(spool.tmp, 'not a directory');
    const client = await openRaw(listener.port);
    try {
      const reply = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'Subject: x\r\n\r\nbody\r\n');
      assert.equal(reply.code, 452, reply.text);
      assert.deepEqual(await listEntryIds(spool), before);
    } finally {
      await fs.rm(spool.tmp);
      await fs.rename(`${spool.tmp}.away`, spool.tmp);
    }
    const retry = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'Subject: x\r\n\r\nbody\r\n');
    assert.equal(retry.code, 250);
    client.close();
  });

  it('nudges a running agent after each accepted message', async () => {
    let nudges = 0;
    let nudged: () => void = () => {};
    const nudgeSeen = new Promise<void>((resolve) => (nudged = resolve));
    const trigger = await listenForNudges(spool, () => {
      nudges++;
      nudged();
    });
    try {
      const client = await openRaw(listener.port);
      assert.equal((await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'Subject: n\r\n\r\nb\r\n')).code, 250);
      client.close();
      await nudgeSeen;
      assert.ok(nudges >= 1);
    } finally {
      await new Promise((resolve) => trigger.close(resolve));
    }
  });

  it('answers 250 for a stored message even when an onAccepted/onRejected hook throws', async () => {
    const fresh = await makeTempHome();
    const thrower = () => {
      throw new Error('hook failed');
    };
    const quick = await startListener({ home: fresh.home, port: 0, nudge: false, onAccepted: thrower, onRejected: thrower });
    try {
      const client = await openRaw(quick.port);
      const reply = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'Subject: hook\r\n\r\nbody\r\n');
      assert.equal(reply.code, 250, reply.text);
      assert.deepEqual(await listEntryIds(await openSpool(fresh.home)), [queuedId(reply.text)]);
      const refused = await sendRawMessage(client, 'a@example.org', ['b@example.org'], 'not a header\r\n');
      assert.equal(refused.code, 554, refused.text);
      client.close();
    } finally {
      await quick.close();
      await fresh.cleanup();
    }
  });

  it('20 concurrent clients x 50 messages: every 250 has its entry, nothing else is stored', async () => {
    const fresh = await makeTempHome();
    const quick = await startListener({ home: fresh.home, port: 0, nudge: false });
    try {
      const accepted: string[] = [];
      let refused = 0;
      await Promise.all(
        Array.from({ length: 20 }, async (_, c) => {
          const transport = nodemailer.createTransport({
            host: '127.0.0.1',
            port: quick.port,
            pool: true,
            maxConnections: 1,
            maxMessages: Infinity,
            ignoreTLS: true,
          });
          try {
            for (let m = 0; m < 50; m++) {
              // Every 10th message of client 0 has a bad recipient: refused, never stored.
              const bad = c === 0 && m % 10 === 0;
              const to = bad ? ['nodomain'] : [`r${c}-${m}@example.org`];
              try {
                const info = await transport.sendMail({
                  envelope: { from: `client${c}@example.org`, to },
                  raw: `Subject: c${c} m${m}\r\nMessage-ID: <c${c}m${m}@example.org>\r\n\r\nbody\r\n`,
                });
                accepted.push(queuedId(info.response));
              } catch {
                refused++;
              }
            }
          } finally {
            transport.close();
          }
        }),
      );
      assert.equal(refused, 5);
      assert.equal(accepted.length, 995);
      const freshSpool = await openSpool(fresh.home);
      assert.deepEqual(await listEntryIds(freshSpool), [...accepted].sort());
      for (const id of accepted.slice(0, 50)) {
        const state = await readEntryState(freshSpool, id);
        const [, c, m] = /^<c(\d+)m(\d+)@/.exec(state?.messageId ?? '') ?? [];
        assert.deepEqual(state?.recipients.map((r) => r.address), [`r${c}-${m}@example.org`]);
      }
    } finally {
      await quick.close();
      await fresh.cleanup();
    }
  });
});

describe('listener bind policy and AUTH', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '::', '192.168.1.2', 'example.org']) assert.ok(!isLoopbackHost(host), host);
  });

  it('refuses a non-loopback bind without AUTH, and AUTH without TLS (exit 78)', async () => {
    const temp = await makeTempHome();
    try {
      await assert.rejects(
        startListener({ home: temp.home, host: '0.0.0.0', port: 0 }),
        (err: unknown) => err instanceof BulkmailerError && err.code === 'E_LISTENER_OPEN_RELAY' && err.exitCode === 78,
      );
      const cli = await runCli(['listen', '--host', '0.0.0.0', '--port', '0'], { home: temp.home });
      assert.equal(cli.code, 78, cli.stderr);
      assert.match(cli.stderr, /refusing to listen on 0\.0\.0\.0/);
      await writeConfig(temp.home, { listener: { authUser: 'list', authPass: 'secret' } });
      await assert.rejects(
        startListener({ home: temp.home, host: '0.0.0.0', port: 0 }),
        (err: unknown) => err instanceof BulkmailerError && err.code === 'E_LISTENER_AUTH_WITHOUT_TLS',
      );
    } finally {
      await temp.cleanup();
    }
  });

  it('enforces the policy on ready settings passed by a library caller too', async () => {
    const temp = await makeTempHome();
    try {
      const open = { host: '0.0.0.0', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null };
      await assert.rejects(
        startListener({ home: temp.home, settings: open }),
        (err: unknown) => err instanceof BulkmailerError && err.code === 'E_LISTENER_OPEN_RELAY' && err.exitCode === 78,
      );
      const authWithoutTls = { ...open, host: '127.0.0.1', auth: { user: 'u', pass: 'p' } };
      await assert.rejects(
        startListener({ home: temp.home, settings: authWithoutTls }),
        (err: unknown) => err instanceof BulkmailerError && err.code === 'E_LISTENER_AUTH_WITHOUT_TLS',
      );
    } finally {
      await temp.cleanup();
    }
  });

  it('refuses TLS files that make no TLS context before binding (exit 78), not at the first STARTTLS', async () => {
    const temp = await makeTempHome();
    // The certificate where the key should be: both files read, no key in them.
    await writeConfig(temp.home, { listener: { authUser: 'list', authPass: 's3cret', tlsKeyFile: CERT, tlsCertFile: CERT } });
    try {
      await assert.rejects(
        startListener({ home: temp.home, port: 0 }),
        (err: unknown) => err instanceof BulkmailerError && err.code === 'E_CONFIG' && err.exitCode === 78 && /tlsKeyFile/.test(err.message),
      );
    } finally {
      await temp.cleanup();
    }
  });

  it('with AUTH configured: binds 0.0.0.0, offers AUTH only after STARTTLS, requires it (421 at the 10th command without it), accepts the right password', async () => {
    const temp = await makeTempHome();
    await writeConfig(temp.home, {
      listener: { authUser: 'list', authPass: 's3cret', tlsKeyFile: KEY, tlsCertFile: CERT },
    });
    const listener = await startListener({ home: temp.home, host: '0.0.0.0', port: 0 });
    try {
      const raw = await RawSmtpClient.connect(listener.port);
      await raw.reply();
      const ehlo = await raw.command('EHLO client.example.org');
      assert.ok(ehlo.lines.some((l) => l.endsWith('STARTTLS')));
      assert.equal(ehlo.lines.some((l) => l.includes('AUTH')), false, 'no AUTH before TLS');
      assert.equal((await raw.command('MAIL FROM:<a@example.org>')).code, 530);
      // smtp-server's limit, kept: the 10th command without AUTH (EHLO and MAIL were the first two) gets 421, and the close.
      for (let i = 3; i < 10; i++) assert.equal((await raw.command('NOOP')).code, 250, `command ${i}`);
      const tenth = await raw.command('NOOP');
      assert.deepEqual([tenth.code, tenth.text], [421, 'Error: too many unauthenticated commands']);
      await raw.waitClosed();

      const ca = await fs.readFile(CERT);
      const send = (pass: string) =>
        nodemailer
          .createTransport({
            host: 'localhost',
            port: listener.port,
            requireTLS: true,
            tls: { ca },
            auth: { user: 'list', pass },
          })
          .sendMail({ envelope: { from: 'list@example.org', to: ['m@example.org'] }, raw: 'Subject: tls\r\n\r\nhi\r\n' });
      await assert.rejects(send('wrong'), (err: Error & { responseCode?: number }) => err.responseCode === 535);
      const info = await send('s3cret');
      const spool = await openSpool(temp.home);
      assert.deepEqual(await listEntryIds(spool), [queuedId(info.response)]);
    } finally {
      await listener.close();
      await temp.cleanup();
    }
  });
});

describe('the listener\'s server: what follows each 250', () => {
  // The log line and the nudge run after the 250 is written (afterReply); whoever waits for the
  // server's work (the listener's close, sendmail -bs) waits on inFlight.settled(), so they must count in it from
  // the moment the 250 is decided until they have run, not only the DATA whose reply they follow.
  it('counts in inFlight until it has run: a wait for inFlight.settled() begun while the message streams ends with its log line written', async (t) => {
    const temp = await makeTempHome();
    t.after(() => temp.cleanup());
    const spool = await openSpool(temp.home);
    const logged: string[] = [];
    const { server, inFlight } = createSpoolSmtpServer(
      spool,
      { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
      { isClosing: () => false, nudge: false, onAccepted: (accepted) => logged.push(accepted.id) },
    );
    server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    const client = await openRaw((server.server.address() as { port: number }).port);
    t.after(() => {
      client.close();
      return server.close();
    });
    assert.equal((await client.command('MAIL FROM:<a@example.org>')).code, 250);
    assert.equal((await client.command('RCPT TO:<b@example.org>')).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    assert.equal(inFlight.size, 1, 'the DATA is in flight');
    // The wait start-listener.ts's close and stdio-smtp-server.ts do (without the close's later turn).
    const drained = inFlight.settled().then(() => [...logged]);
    await client.write('Subject: after the reply\r\n\r\nbody\r\n.\r\n');
    const reply = await client.reply();
    assert.equal(reply.code, 250, reply.text);
    assert.deepEqual(await drained, [queuedId(reply.text)], 'inFlight settled before the log line was written');
    await settleCommits();
  });
});

describe('bulkmailer listen (child process)', () => {
  it('on SIGTERM stops accepting, finishes the message in flight with 250 and its log line, then exits 0', async () => {
    const temp = await makeTempHome();
    const { child, port, stderr } = await startListen(['--port', '0'], { home: temp.home });
    try {
      const client = await openRaw(port);
      assert.equal((await client.command('MAIL FROM:<a@example.org>')).code, 250);
      assert.equal((await client.command('RCPT TO:<b@example.org>')).code, 250);
      assert.equal((await client.command('DATA')).code, 354);
      await client.write('Subject: in flight\r\n\r\nfirst half\r\n');
      // 'close': the process has exited and everything it wrote to stderr has been read.
      const exited = once(child, 'close');
      child.kill('SIGTERM');
      // Wait until the listener has taken the signal (it says so), then finish the message.
      while (!stderr().includes('SIGTERM')) await new Promise((resolve) => child.stderr?.once('data', resolve));
      await client.write('second half\r\n.\r\n');
      const reply = await client.reply();
      assert.equal(reply.code, 250, reply.text);
      const goodbye = await client.reply();
      assert.equal(goodbye.code, 421);
      await client.waitClosed();
      const [code] = await exited;
      assert.equal(code, 0);
      const spool = await openSpool(temp.home);
      const id = queuedId(reply.text);
      assert.equal((await storedMessage(spool, id)).toString(), 'Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n');
      // Its log line, written after the 250, still came before the exit.
      assert.match(stderr(), new RegExp(`^bulkmailer: queued ${id} from <a@example\\.org> for 1 recipient, 47 bytes$`, 'm'));
      // Its commit's after-work ran before the exit (close settles it): no pending name is left for repair.
      assert.deepEqual((await fs.readdir(spool.tmp)).filter((name) => name.endsWith('.commit')), []);
      // New connections are refused once it has stopped.
      await assert.rejects(RawSmtpClient.connect(port).then((c) => c.reply()));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await temp.cleanup();
    }
  });
});
