/**
 * Issue 3: an agent whose smarthost is down, then comes up, delivers
 * within seconds of it coming back, without waiting for its cron schedule
 * (set to once a year here, so only the watcher's re-probe can do it).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { enqueueMany, flushEnded, killAll, range, spoolRecipients, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer();
  await server.stop(); // down; the port is remembered for start()
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 1 1 *', timeouts: { probe: '2s' } });
});

after(async () => {
  await killAll();
  await server.close().catch(() => {});
  await home.cleanup();
});

test('smarthost down, then up: delivery within seconds, not at the next schedule', async () => {
  const recipients = range(3).map((i) => `member${i}@example.test`);
  await enqueueMany(home.home, recipients);
  const agent = startAgent(home.home);
  await agent.waitFor('flush-end', (e) => e.n === 1 && e.result?.outcome === 'offline');
  await agent.waitFor('offline', (e) => e.changed && e.reason === 'unreachable' && e.retryInMs === 1_000);
  assert.equal(server.messages.length, 0);

  await server.start();
  const upAt = performance.now();
  await server.waitForMessages(3, 20_000);
  const seconds = (performance.now() - upAt) / 1000;
  assert.ok(seconds < 12, `delivered ${seconds.toFixed(1)}s after the smarthost came back`);

  const online = await agent.waitFor('online', (e) => /^smtp:\/\/127\.0\.0\.1:\d+$/.test(e.smarthost));
  await agent.waitFor('flush-end', flushEnded('online', 'done', 3), { from: online.index });
  assert.equal(agent.count('flush-start', (e) => e.reasons.includes('schedule')), 0, 'the schedule never fired');

  const stopped = await agent.stop('SIGTERM');
  assert.equal(stopped.code, 0);
  assert.deepEqual(await spoolRecipients(home.home), []);
  assert.deepEqual([...server.deliveriesByRecipient().values()], [1, 1, 1]);
});
