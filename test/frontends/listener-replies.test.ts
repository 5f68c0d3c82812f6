/**
 * Replies to pipelined commands leave the listener in one write
 * (src/frontends/listener/coalesced-replies.ts): a client that sends MAIL
 * and five RCPTs in one packet gets six replies through one writev of the
 * server's socket instead of six writes. Counted at the server's socket
 * (its stream implementation's _write and _writev, i.e. what reaches the
 * kernel), so the test does not depend on how the client's reads happen
 * to merge. The replies themselves are unchanged, in order, and the
 * message is queued as before. The listener's server on 127.0.0.1 port 0.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import { once } from 'node:events';
import { createSpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { makeTempHome } from '../support/home.js';
import { dataBlock, openRaw } from '../support/smtp-client.js';

interface CountedSocket {
  writes: number;
  writevs: number;
}

test('the replies to MAIL and five pipelined RCPTs go out in one write; the message is queued', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { server } = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
    { isClosing: () => false, nudge: false },
  );
  server.on('error', () => {});
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.server.address() as net.AddressInfo;
  // Count what the server's sockets hand to the kernel from now on.
  const spy = (socket: net.Socket): CountedSocket => {
    const count: CountedSocket = { writes: 0, writevs: 0 };
    const s = socket as net.Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const write = s._write.bind(s);
    const writev = s._writev.bind(s);
    s._write = (...a: unknown[]) => {
      count.writes++;
      write(...a);
    };
    s._writev = (...a: unknown[]) => {
      count.writevs++;
      writev(...a);
    };
    return count;
  };
  const client = await openRaw(port);
  t.after(() => client.close());
  // The server's side of this connection: the one socket the server holds.
  const connections = (server as unknown as { connections: Set<{ _socket: net.Socket }> }).connections;
  const sockets = [...connections].map((c) => c._socket);
  assert.equal(sockets.length, 1);
  const count = spy(sockets[0]!);

  const rcpts = [1, 2, 3, 4, 5].map((n) => `r${n}@example.net`);
  await client.write(['MAIL FROM:<ada@example.org>', ...rcpts.map((r) => `RCPT TO:<${r}>`)].map((l) => `${l}\r\n`).join(''));
  const replies = [];
  for (let i = 0; i < 6; i++) replies.push(await client.reply());
  assert.deepEqual(replies.map((r) => r.code), [250, 250, 250, 250, 250, 250]);
  assert.deepEqual(count, { writes: 0, writevs: 1 }, 'six replies, one write to the kernel');

  const data = await client.command('DATA');
  assert.equal(data.code, 354);
  await client.write(dataBlock('From: ada@example.org\r\nSubject: hi\r\n\r\nHello.\r\n'));
  const queued = await client.reply();
  assert.equal(queued.code, 250, queued.text);
  assert.equal((await listEntryIds(await openSpool(home))).length, 1);
});
