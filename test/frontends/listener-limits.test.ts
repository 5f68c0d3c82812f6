/**
 * Issue 11 item 8: idle connections piling up never lock real clients out.
 * A real listener on 127.0.0.1 with a small cap; raw sockets that connect
 * and say nothing more; a real client that must still get its 250.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { makeTempHome } from '../support/home.js';
import { openRaw, RawSmtpClient, sendRawMessage } from '../support/smtp-client.js';

async function listen(t: { after: (fn: () => Promise<void>) => void }, maxConnections: number, idleTimeoutMs: number) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const listener = await startListener({
    home,
    settings: { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null, maxConnections, idleTimeoutMs },
    nudge: false,
  });
  t.after(() => listener.close());
  return { home, listener };
}

const MESSAGE = 'Subject: real\r\n\r\nhello\r\n';

test('past the cap, the connection idle longest before MAIL gets 421 and a real client is served', async (t) => {
  const { home, listener } = await listen(t, 5, 3_600_000);
  const idle: RawSmtpClient[] = [];
  t.after(() => idle.forEach((c) => c.close()));
  for (let i = 0; i < 5; i++) idle.push(await openRaw(listener.port));
  // A sixth connection: the first idle one makes room.
  const real = await openRaw(listener.port);
  t.after(() => real.close());
  const evicted = await idle[0]!.reply();
  assert.equal(evicted.code, 421, evicted.text);
  assert.match(evicted.text, /too many connections/);
  await idle[0]!.waitClosed();
  const reply = await sendRawMessage(real, 'ada@example.org', ['bob@example.net'], MESSAGE);
  assert.equal(reply.code, 250, reply.text);
  // More idle connections pile up: each pushes out an older idle one, never the client in a transaction.
  for (let i = 0; i < 4; i++) idle.push(await openRaw(listener.port));
  for (const c of idle.slice(1, 5)) assert.equal((await c.reply()).code, 421);
  const again = await sendRawMessage(real, 'ada@example.org', ['carol@example.net'], MESSAGE);
  assert.equal(again.code, 250, again.text);
  assert.equal((await listEntryIds(await openSpool(home))).length, 2);
});

test('when every connection is inside a transaction, a new one is refused with 421 at once', async (t) => {
  const { listener } = await listen(t, 2, 3_600_000);
  const busy = [await openRaw(listener.port), await openRaw(listener.port)];
  t.after(() => busy.forEach((c) => c.close()));
  for (const c of busy) assert.equal((await c.command('MAIL FROM:<ada@example.org>')).code, 250);
  const refused = await RawSmtpClient.connect(listener.port);
  t.after(() => refused.close());
  const greeting = await refused.reply();
  assert.equal(greeting.code, 421, greeting.text);
  await refused.waitClosed();
  // The busy ones carry on.
  assert.equal((await busy[0]!.command('RCPT TO:<bob@example.net>')).code, 250);
});

test('a connection that starts no transaction within listener.idleTimeout is told 421 and closed', async (t) => {
  const { listener } = await listen(t, 100, 200);
  const client = await openRaw(listener.port);
  t.after(() => client.close());
  const reply = await client.reply(); // waits for the server's word, however long the machine takes
  assert.equal(reply.code, 421, reply.text);
  assert.match(reply.text, /idle/);
  await client.waitClosed();
});
