/**
 * The agent with every route direct (`routes "*=mx"`) and no smarthost:
 * it starts (nothing to probe, so no connectivity watcher), and its flushes
 * deliver by MX. A real spool, DNS server and MX sinks on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent } from '../../src/agent/agent.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, nudgeFlusher, openSpool } from '../../src/spool/index.js';
import { startMxNetwork } from '../support/mx-network.js';
import { makeTempHome, writeConfig } from '../support/home.js';

const ZONE = {
  'club.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }] },
  'mx1.club.example': { a: ['127.0.0.2'] },
};

function message(subject: string): string {
  return `From: list@club.example\r\nTo: members@club.example\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
}

test('the agent delivers by MX with no smarthost configured; a smarthost route without one is still refused', async (t) => {
  const net = await startMxNetwork(ZONE, ['127.0.0.2']);
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  await writeConfig(home, { ...net.config, schedule: '0 0 1 1 *' });
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['ann@club.example'], message: message('at start') });

  const agent = new Agent({ home });
  t.after(() => agent.stop());
  const firstEnd = once(agent, 'flush-end');
  assert.deepEqual(await agent.start(), { started: true });
  const [first] = (await firstEnd) as [{ result: { outcome: string } | null; error: string | null }];
  assert.equal(first.error, null);
  assert.equal(first.result?.outcome, 'done');
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['ann@club.example']]);

  // A nudge (what sendmail and the listener send after enqueueing) flushes at once: no watcher says "offline".
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['bob@club.example'], message: message('nudged') });
  const secondEnd = once(agent, 'flush-end');
  await nudgeFlusher(spool);
  await secondEnd;
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['ann@club.example'], ['bob@club.example']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  await agent.stop();

  // Mail routed to a smarthost that is not configured: the agent says so at start (exit 78 for the command).
  await writeConfig(home, { ...net.config, routes: 'club.example=mx,*=smarthost' });
  const refused = new Agent({ home });
  await assert.rejects(refused.start(), /no smarthost configured/);
  await refused.stop();
});
