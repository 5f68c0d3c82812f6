/**
 * Issue 3: the schedule from config fires. A seconds-level expression
 * (every 2 seconds) delivers a message that was enqueued without a nudge,
 * so only the schedule can have sent it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaptureServer } from '../support/capture-server.js';
import type { TempHome } from '../support/home.js';
import { agentTestHome, enqueueMany, flushEnded, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

agentTestHome((h, s) => {
  home = h;
  server = s;
}, '*/2 * * * * *');

test('a seconds-level schedule from config fires and delivers', async () => {
  const agent = startAgent(home.home);
  await agent.waitFor('ready', (e) => e.schedule === '*/2 * * * * *');
  const startup = await agent.waitFor('flush-end', (e) => e.n === 1 && e.result?.outcome === 'done' && e.result.due === 0);
  await enqueueMany(home.home, ['scheduled@example.test']);
  await server.waitForMessages(1, 15_000);
  await agent.waitFor('flush-end', flushEnded('schedule', 'done', 1), { timeoutMs: 15_000, from: startup.index });
  assert.equal(agent.count('flush-start', (e) => e.reasons.includes('nudge')), 0);
  assert.equal((await agent.stop('SIGINT')).code, 0);
});
