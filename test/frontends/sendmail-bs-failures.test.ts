/**
 * `sendmail -bs` (the real bin/bulkmailer-sendmail, spawned) when its
 * stdio fails mid-session: the process must end, with a status that says
 * what happened, and keep exactly the messages answered 250. The reader of
 * stdout going away (EPIPE) lets the session finish without its replies;
 * stdin failing (a TCP connection as stdin, reset by the client) cuts
 * it: exit 74, the message in progress not queued. Before the session's
 * close path was made sure, the first hung (the private connection stayed
 * paused) and the second crashed with a stack trace (exit 1).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { SENDMAIL, spawnCli } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { RawSmtpClient, sendRawMessage } from '../support/smtp-client.js';

/** A session that does not end is a failure, not a hung suite: it is killed after this long. */
const HANG_GUARD_MS = 30_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** The child's exit and its stderr; a child still running after HANG_GUARD_MS is killed (signal SIGKILL). */
function exitOf(child: ChildProcess): Promise<Exit> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const guard = setTimeout(() => child.kill('SIGKILL'), HANG_GUARD_MS);
  return once(child, 'close').then(([code, signal]) => {
    clearTimeout(guard);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stderr };
  });
}

async function freshHome(t: TestContext): Promise<string> {
  const temp = await makeTempHome();
  t.after(() => temp.cleanup());
  return temp.home;
}

test('sendmail -bs: the reader of stdout going away mid-session (EPIPE) lets the session finish without its replies: queued, exit 0', async (t) => {
  const home = await freshHome(t);
  const child = spawnCli(['-bs'], { home, bin: SENDMAIL });
  const exited = exitOf(child);
  child.stdin?.on('error', () => {});
  // The greeting, then the reader closes its end: every reply from now on meets EPIPE.
  await once(child.stdout!, 'data');
  child.stdout?.destroy();
  child.stdin?.end('EHLO client.example\r\nMAIL FROM:<ada@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\nSubject: unread\r\n\r\nbody\r\n.\r\nQUIT\r\n');
  const result = await exited;
  assert.deepEqual([result.code, result.signal], [0, null], result.stderr);
  assert.equal(result.stderr, '');
  assert.equal((await listEntryIds(await openSpool(home))).length, 1);
});

test('sendmail -bs reading a TCP connection that the client resets mid-message: exit 74, the message answered 250 kept, the one after its 354 not queued', async (t) => {
  const home = await freshHome(t);
  // The connection is the command's stdin (as inetd or socat gives it; this process never reads
  // it), its replies a pipe. The reset comes when the command has read all we sent (the 354 to
  // our last line is in): with bytes still unread, Linux may show the reset as a plain end of
  // stdin, which is then what it is for the command (a message cut short: exit 65, sendmail.test.ts).
  const server = net.createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const connection = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [served] = (await accepted) as [net.Socket];
  const child = spawnCli(['-bs'], { home, bin: SENDMAIL, stdio: [served, 'pipe', 'pipe'] });
  const exited = exitOf(child);
  served.destroy(); // the child holds the connection now
  server.close();
  const client = RawSmtpClient.over(connection, child.stdout!);
  t.after(() => client.close());

  assert.equal((await client.reply()).code, 220);
  assert.equal((await client.command('EHLO client.example')).code, 250);
  const first = await sendRawMessage(client, 'ada@example.org', ['bob@example.net'], 'Subject: first\r\n\r\nwhole\r\n');
  assert.equal(first.code, 250, first.text);
  assert.deepEqual([(await client.command('MAIL FROM:<ada@example.org>')).code, (await client.command('RCPT TO:<bob@example.net>')).code], [250, 250]);
  assert.equal((await client.command('DATA')).code, 354);
  connection.resetAndDestroy();

  const result = await exited;
  assert.deepEqual([result.code, result.signal], [74, null], result.stderr);
  assert.match(result.stderr, /^bulkmailer-sendmail: cannot read standard input \(ECONNRESET\): the SMTP session was cut/);
  const spool = await openSpool(home);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 1);
  assert.ok(first.text.includes(`queued as ${ids[0]}`), first.text);
  assert.deepEqual(await fs.readdir(spool.tmp), []);
});
