/**
 * Issue 3: mail enqueued while the agent runs (smarthost up) is delivered
 * promptly through the trigger socket, and a burst of nudges makes one
 * flush. The schedule is once a year, so only nudges can flush here.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { CaptureServer } from '../support/capture-server.js';
import type { TempHome } from '../support/home.js';
import { agentTestHome, enqueueMany, flushEnded, nudge, range, spoolRecipients, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

agentTestHome((h, s) => {
  home = h;
  server = s;
});

test('a burst of enqueues is delivered promptly, in one flush', async () => {
  const agent = startAgent(home.home);
  await agent.waitFor('flush-end', (e) => e.n === 1 && e.result?.outcome === 'done' && e.result.due === 0);

  const recipients = range(5).map((i) => `burst${i}@example.test`);
  await enqueueMany(home.home, recipients);
  const sentAt = performance.now();
  const nudged = await Promise.all(range(5).map(() => nudge(home.home)));
  assert.deepEqual(nudged, [true, true, true, true, true], 'the agent listens on the trigger socket');

  await server.waitForMessages(5, 10_000);
  const seconds = (performance.now() - sentAt) / 1000;
  assert.ok(seconds < 5, `delivered ${seconds.toFixed(1)}s after the nudges`);
  await agent.waitFor('flush-end', (e) => e.n === 2 && flushEnded('nudge', 'done', 5)(e));

  // Every flush ends with exactly one "flush #N (...): <result>" line.
  const stopped = await agent.stop('SIGTERM');
  assert.equal(stopped.code, 0);
  assert.equal(agent.count('flush-end'), 2, `one startup flush and one for the burst:\n${agent.lines.join('\n')}`);
  assert.deepEqual(await spoolRecipients(home.home), []);
});

test('a nudge with no agent running is harmless', async () => {
  assert.equal(await nudge(home.home), false);
});
