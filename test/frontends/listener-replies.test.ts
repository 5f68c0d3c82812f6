/**
 * Replies to pipelined commands leave the listener in one write
 * (src/frontends/smtp-intake/intake-connection.ts gathers the replies to
 * the commands of one socket read): a client that sends MAIL and five RCPTs
 * in one packet gets six replies through one write of the server's socket
 * instead of six. Counted at the server's socket
 * (its stream implementation's _write and _writev, i.e. what reaches the
 * kernel), so the test does not depend on how the client's reads happen
 * to merge. The replies themselves are unchanged, in order, and the
 * message is queued as before. A client that waits for each reply gets
 * each at once (one command per read, nothing to gather): each reply is
 * its own write. The listener's server on 127.0.0.1 port 0.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { once } from 'node:events';
import { createSpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { makeTempHome } from '../support/home.js';
import { dataBlock, openRaw, type RawSmtpClient } from '../support/smtp-client.js';

interface CountedSocket {
  writes: number;
  writevs: number;
  corks: number;
}

/** The listener's server with one raw client past EHLO, and a count of what the server's socket of that client does from now on. */
async function oneClient(t: TestContext): Promise<{ home: string; client: RawSmtpClient; count: CountedSocket }> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { server } = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
    { isClosing: () => false, nudge: false },
  );
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  let client: RawSmtpClient | undefined;
  // The client first: the server's close waits for its connections to end.
  t.after(() => {
    client?.close();
    return server.close();
  });
  const { port } = server.server.address() as net.AddressInfo;
  client = await openRaw(port);
  // The server's side of this connection: the one socket the server holds.
  const connections = server.connections as Set<unknown> as Set<{ socket: net.Socket }>;
  const sockets = [...connections].map((c) => c.socket);
  assert.equal(sockets.length, 1);
  // Count what the server's socket hands to the kernel (_write, _writev), and its corks.
  const count: CountedSocket = { writes: 0, writevs: 0, corks: 0 };
  const s = sockets[0] as net.Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(s);
  const writev = s._writev.bind(s);
  const cork = s.cork.bind(s);
  s._write = (...a: unknown[]) => {
    count.writes++;
    write(...a);
  };
  s._writev = (...a: unknown[]) => {
    count.writevs++;
    writev(...a);
  };
  s.cork = () => {
    count.corks++;
    cork();
  };
  return { home, client, count };
}

const rcpts = [1, 2, 3, 4, 5].map((n) => `r${n}@example.net`);

test('the replies to MAIL and five pipelined RCPTs go out in one write; the message is queued', async (t) => {
  const { home, client, count } = await oneClient(t);
  await client.write(['MAIL FROM:<ada@example.org>', ...rcpts.map((r) => `RCPT TO:<${r}>`)].map((l) => `${l}\r\n`).join(''));
  const replies = [];
  for (let i = 0; i < 6; i++) replies.push(await client.reply());
  assert.deepEqual(replies.map((r) => r.code), [250, 250, 250, 250, 250, 250]);
  assert.deepEqual(count, { writes: 1, writevs: 0, corks: 0 }, 'six replies, one write to the kernel');

  const data = await client.command('DATA');
  assert.equal(data.code, 354);
  await client.write(dataBlock('From: ada@example.org\r\nSubject: hi\r\n\r\nHello.\r\n'));
  const queued = await client.reply();
  assert.equal(queued.code, 250, queued.text);
  assert.equal((await listEntryIds(await openSpool(home))).length, 1);
});

test('a client that waits for each reply gets each written at once; the message is queued', async (t) => {
  const { home, client, count } = await oneClient(t);
  const codes = [(await client.command('MAIL FROM:<ada@example.org>')).code];
  for (const r of rcpts) codes.push((await client.command(`RCPT TO:<${r}>`)).code);
  codes.push((await client.command('DATA')).code);
  assert.deepEqual(codes, [250, 250, 250, 250, 250, 250, 354]);
  assert.deepEqual(count, { writes: 7, writevs: 0, corks: 0 }, 'one command per read: nothing to coalesce');

  await client.write(dataBlock('From: ada@example.org\r\nSubject: hi\r\n\r\nHello.\r\n'));
  const queued = await client.reply();
  assert.equal(queued.code, 250, queued.text);
  assert.equal((await listEntryIds(await openSpool(home))).length, 1);
});
