/**
 * Direct delivery takes the states the flush's plan parsed, as account
 * batches do: each state file is read once when nothing else writes it,
 * and a change made on disk between the plan and an entry's delivery (a
 * hold, a delete, with the real CLI) is still seen; a bin takes only the
 * recipients planned for it. A DNS server on
 * 127.0.0.1 and an SMTP sink on 127.0.0.2 (test/support/mx-network.ts).
 * An entry split between an account and direct delivery is read once too:
 * its MX part takes the state its account's delivery left; so is one whose
 * recipients sit in two MX bins.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startMxNetwork } from '../support/mx-network.js';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { BULKMAILER } from '../support/cli.js';
import { messageText } from '../support/spool-fixtures.js';
import { flushWithRetryAfterPlan } from '../support/retry-after-plan.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState, statePath, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const net = await startMxNetwork(
    { 'club.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }] }, 'mx1.club.example': { a: ['127.0.0.2'] } },
    ['127.0.0.2'],
  );
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  // One channel: the entries go one after another, in queue order.
  await writeConfig(home, { ...net.config, concurrency: 1 });
  return { net, home, spool: await openSpool(home) };
}

/**
 * Queues three entries with the recipients `recipientsOf` gives, flushes,
 * and counts the opens of their state files. A spy, not a fake: every open
 * goes through to the real file system and is counted on the way.
 */
async function flushCountingStateOpens(t: TestContext, home: string, spool: Spool, recipientsOf: (i: number) => string[]) {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push((await enqueueMessage(spool, { from: 'list@club.example', recipients: recipientsOf(i), message: messageText(`post ${i}`) })).id);
  }
  const files = new Set(ids.map((id) => statePath(spool, id)));
  const opens = t.mock.method(fs, 'openSync');
  const result = await flushQueue({ home });
  const stateOpens = opens.mock.calls.filter((call) => files.has(String(call.arguments[0]))).length;
  opens.mock.restore();
  return { result, stateOpens };
}

test('direct delivery reads each state file once: the plan\'s reading', async (t) => {
  const { net, home, spool } = await setup(t);
  const { result, stateOpens } = await flushCountingStateOpens(t, home, spool, (i) => [`m${i}@club.example`, `n${i}@club.example`]);
  assert.equal(result.outcome, 'done');
  assert.equal(net.sink('127.0.0.2').messages.length, 3);
  assert.equal(stateOpens, 3, 'one reading per entry, by the planner');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('an entry split between an account and direct delivery is read once: its MX part takes the state its account\'s delivery left', async (t) => {
  const { net, home, spool } = await setup(t);
  const smarthost = await startCaptureServer();
  t.after(() => smarthost.close());
  await writeConfig(home, { ...net.config, concurrency: 1, routes: 'club.example=mx, *=smarthost', smarthost: smarthost.url });
  const { result, stateOpens } = await flushCountingStateOpens(t, home, spool, (i) => [`m${i}@club.example`, `o${i}@elsewhere.example`]);
  assert.equal(result.outcome, 'done');
  assert.deepEqual(smarthost.messages.flatMap((m) => m.to).sort(), ['o0@elsewhere.example', 'o1@elsewhere.example', 'o2@elsewhere.example']);
  assert.deepEqual(net.sink('127.0.0.2').messages.flatMap((m) => m.to).sort(), ['m0@club.example', 'm1@club.example', 'm2@club.example']);
  assert.equal(stateOpens, 3, 'one reading per entry, by the planner, for both of its deliveries');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('an entry whose recipients sit in two MX bins is read once: its second bin takes the state its first left', async (t) => {
  const net = await startMxNetwork(
    {
      'club.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }] },
      'mx1.club.example': { a: ['127.0.0.2'] },
      'other.example': { mx: [{ preference: 10, exchange: 'mx.other.example' }] },
      'mx.other.example': { a: ['127.0.0.3'] },
    },
    ['127.0.0.2', '127.0.0.3'],
  );
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { ...net.config, concurrency: 1 });
  const spool = await openSpool(home);
  const { result, stateOpens } = await flushCountingStateOpens(t, home, spool, (i) => [`m${i}@club.example`, `o${i}@other.example`]);
  assert.equal(result.outcome, 'done');
  assert.deepEqual(net.sink('127.0.0.2').messages.flatMap((m) => m.to).sort(), ['m0@club.example', 'm1@club.example', 'm2@club.example']);
  assert.deepEqual(net.sink('127.0.0.3').messages.flatMap((m) => m.to).sort(), ['o0@other.example', 'o1@other.example', 'o2@other.example']);
  assert.equal(stateOpens, 3, 'one reading per entry, by the planner, for both of its bins');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a hold and a delete landing after the plan and before their direct delivery are seen: neither entry is sent', async (t) => {
  const { net, home, spool } = await setup(t);
  // A millisecond apart: ids made in the same one would sort by their random part, not in this order.
  let now = Date.now();
  const queue = async (name: string) =>
    (await enqueueMessage(spool, { from: 'list@club.example', recipients: [`${name}@club.example`], message: messageText(name), now: now++ })).id;
  const first = await queue('first');
  const held = await queue('held');
  const deleted = await queue('deleted');
  await queue('last');
  const cli = (args: string[]) => execFileSync(process.execPath, [BULKMAILER, ...args], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, stdio: 'pipe' });
  const events = new FlushEvents();
  let changed = false;
  events.on('start', (start: { dueEntries: number }) => assert.equal(start.dueEntries, 4, 'all four were planned'));
  events.on('transaction', ({ id }: { id: string }) => {
    if (id !== first) return;
    // After the plan read every state, before the next entry's delivery starts.
    cli(['hold', held]);
    cli(['delete', '--yes', deleted]);
    changed = true;
  });
  const result = await flushQueue({ home, events });
  assert.equal(changed, true);
  assert.deepEqual(net.sink('127.0.0.2').messages.flatMap((m) => m.to).sort(), ['first@club.example', 'last@club.example']);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [held]);
  const state = (await readEntryState(spool, held))!;
  assert.equal(state.held, true);
  assert.equal(state.recipients[0]!.attempts, 0);
  assert.equal(result.sent, 2);
});

test('a bin takes only the recipients planned for direct delivery: one of its domain made due after the plan goes in the next pass', async (t) => {
  const { net, home, spool } = await setup(t);
  const result = await flushWithRetryAfterPlan(home, spool, 'x@club.example', 'y@club.example', 'list@club.example');
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['y@club.example'], ['x@club.example']], 'y as planned, x in the next pass');
  assert.equal(result.outcome, 'done');
  assert.equal(result.remaining, 0);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});
