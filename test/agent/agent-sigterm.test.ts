/**
 * Issue 3: SIGTERM during a large drain. The agent stops starting
 * transactions, lets the ones in flight finish and be recorded, exits 0
 * well within its bounded wait, releases the lock and the trigger socket;
 * the next run delivers the rest: nothing lost, nothing sent twice.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { enqueueMany, killAll, range, spoolRecipients, startAgent } from './agent-process.js';

const TOTAL = 60;
let home: TempHome;
let server: CaptureServer;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer({ dataDelayMs: 150 });
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 1 1 *', concurrency: 2 });
});

after(async () => {
  await killAll();
  await server.close();
  await home.cleanup();
});

test('SIGTERM mid-drain: exit 0 in bounded time, consistent state, the next run resumes', async () => {
  const recipients = range(TOTAL).map((i) => `drain${i}@example.test`);
  await enqueueMany(home.home, recipients);
  const first = startAgent(home.home);
  await server.waitForMessages(4, 20_000);

  const stopped = await first.stop('SIGTERM');
  assert.equal(stopped.code, 0, first.lines.join('\n'));
  assert.ok(stopped.ms < 15_000, `stopped in ${Math.round(stopped.ms)}ms (bounded wait is 15s)`);
  assert.equal(first.count('stopped', (e) => e.clean), 1, first.lines.join('\n'));
  assert.equal(first.count('flush-end', (e) => e.n === 1 && e.result?.outcome === 'stopped'), 1, first.lines.join('\n'));

  const lockDir = path.join(home.home, 'spool', 'lock');
  assert.deepEqual((await fs.readdir(lockDir)).filter((n) => n === 'instance' || n === 'trigger.sock'), []);

  // Consistent: every recipient is either captured or still pending in the spool, never both.
  const delivered = new Set(server.messages.flatMap((m) => m.to));
  const left = await spoolRecipients(home.home);
  assert.ok(delivered.size > 0 && delivered.size < TOTAL, `${delivered.size} delivered before the stop`);
  assert.ok(left.every((r) => r.status === 'pending'), JSON.stringify(left.filter((r) => r.status !== 'pending')));
  assert.equal(delivered.size + left.length, TOTAL);
  assert.ok(left.every((r) => !delivered.has(r.address)));

  const second = startAgent(home.home);
  await server.waitForMessages(TOTAL, 60_000);
  await second.waitFor('flush-end', (e) => e.n === 1 && e.result?.outcome === 'done', { timeoutMs: 30_000 });
  assert.equal((await second.stop('SIGTERM')).code, 0);
  const counts = server.deliveriesByRecipient();
  assert.equal(counts.size, TOTAL);
  assert.ok([...counts.values()].every((n) => n === 1), 'nothing sent twice');
  assert.deepEqual(await spoolRecipients(home.home), []);
});
