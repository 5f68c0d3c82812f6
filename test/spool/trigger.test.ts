/**
 * The trigger (src/spool/trigger.ts): a nudge reaches a listening flusher;
 * nudges asked for while one runs share the next one, which starts after
 * the running one (a listener taking many messages at once makes two
 * connections, not one per message); with nobody listening a nudge says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { makeTempHome } from '../support/home.js';
import { nudgeFlusher, openSpool, triggerSocketPath } from '../../src/spool/index.js';

test('nudges asked for at once share: one runs, one follows it, every caller hears that a flusher listened', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const seen: string[] = [];
  const server = net.createServer((socket) => {
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => seen.push(data));
  });
  await new Promise<void>((resolve) => server.listen(triggerSocketPath(spool), resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));

  const results = await Promise.all(Array.from({ length: 10 }, () => nudgeFlusher(spool)));
  assert.deepEqual(results, Array(10).fill(true));
  await waitUntil(() => seen.length >= 2);
  assert.deepEqual(seen, ['!', '!'], 'ten nudges at once: the first, and one after it for the nine that came meanwhile');

  assert.equal(await nudgeFlusher(spool), true);
  await waitUntil(() => seen.length >= 3);
  assert.equal(seen.length, 3, 'a nudge asked for after the others ended makes its own connection');
});

test('with no flusher listening a nudge answers false, and the next one tries again', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  assert.deepEqual(await Promise.all([nudgeFlusher(spool), nudgeFlusher(spool)]), [false, false]);
  let connections = 0;
  const server = net.createServer((socket) => (connections++, socket.resume()));
  await new Promise<void>((resolve) => server.listen(triggerSocketPath(spool), resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  assert.equal(await nudgeFlusher(spool), true);
  await waitUntil(() => connections >= 1);
  assert.equal(connections, 1);
});

async function waitUntil(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
}
