/**
 * Issue 3 and promise 5: while the agent runs, a cron `bulkmailer flush`
 * exits 0 at once saying who holds the spool, and nothing is delivered
 * twice, even when the cron flush comes in the middle of a drain.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { enqueueMany, flushEnded, killAll, nudge, range, spoolRecipients, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer({ dataDelayMs: 100 });
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 1 1 *', concurrency: 2 });
});

after(async () => {
  await killAll();
  await server.close();
  await home.cleanup();
});

test('cron flush while the agent drains: exit 0 at once, no double delivery', async () => {
  const agent = startAgent(home.home);
  await agent.waitFor('flush-end', (e) => e.n === 1 && e.result?.outcome === 'done' && e.result.due === 0);
  const recipients = range(30).map((i) => `cron${i}@example.test`);
  await enqueueMany(home.home, recipients);
  await nudge(home.home);
  await server.waitForMessages(2, 10_000); // the agent is in the middle of its drain

  const started = performance.now();
  const cron = await runCli(['flush'], { home: home.home, timeoutMs: 20_000 });
  const ms = performance.now() - started;
  assert.equal(cron.code, 0, cron.stderr);
  assert.match(cron.stdout + cron.stderr, new RegExp(`another flush is running \\(pid ${agent.pid}\\)`));
  assert.ok(ms < 5_000, `cron flush took ${Math.round(ms)}ms`);

  const quiet = await runCli(['flush', '--quiet'], { home: home.home, timeoutMs: 20_000 });
  assert.equal(quiet.code, 0, quiet.stderr);

  await server.waitForMessages(30, 30_000);
  await agent.waitFor('flush-end', (e) => e.n === 2 && flushEnded('nudge', 'done')(e), { timeoutMs: 30_000 });
  const counts = server.deliveriesByRecipient();
  assert.equal(counts.size, 30);
  assert.ok([...counts.values()].every((n) => n === 1), 'every recipient exactly once');

  assert.equal((await agent.stop('SIGTERM')).code, 0);
  assert.deepEqual(await spoolRecipients(home.home), []);
});
