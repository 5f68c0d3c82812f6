/**
 * With several accounts (and with one), each account's batch takes of an entry exactly the
 * recipients the planner gave it (their route, the sender's account), not
 * whatever is due when the entry comes up: a recipient that became due
 * after the plan (here a `retry` between the plan and the entry's delivery)
 * waits for the next pass, which gives it to its own account. Real CLI,
 * real capture smarthosts on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { messageText } from '../support/spool-fixtures.js';
import { partnerRoutedHome, smarthostAndHome } from '../support/smarthost-home.js';
import { BULKMAILER } from '../support/cli.js';
import { enqueueMessage, listEntryIds, openSpool, writeEntryState, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

/**
 * Queues one entry for x and y with x greylisted an hour ago (not due, so
 * the plan counts y only), and flushes it with x retried (made due) by the
 * real CLI after the first pass's plan, before the entry's delivery.
 */
async function flushWithRetryAfterPlan(home: string, spool: Spool, x: string, y: string) {
  const queued = await enqueueMessage(spool, { from: 'me@home.example', recipients: [x, y], message: messageText('planned') });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  await writeEntryState(spool, {
    ...queued.state,
    recipients: queued.state.recipients.map((r) =>
      r.address === x
        ? { ...r, status: 'deferred', attempts: 1, lastAttemptAt: new Date().toISOString(), nextAttemptAt: later, lastReply: '451 4.7.1 Greylisted', retryAgeMs: 60_000 }
        : r,
    ),
  });
  const events = new FlushEvents();
  let retried = false;
  events.on('start', ({ pass }: { pass: number }) => {
    if (pass !== 0) return;
    execFileSync(process.execPath, [BULKMAILER, 'retry', queued.id], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, stdio: 'pipe' });
    retried = true;
  });
  const result = await flushQueue({ home, events });
  assert.equal(retried, true);
  return result;
}

test('a recipient of another account made due between the plan and the delivery is not sent by the account the entry went to', async (t) => {
  const { main, relay, home, spool } = await partnerRoutedHome(t);
  // x@partner.example is relay's: the plan gives the entry to the default account, for y only.
  const result = await flushWithRetryAfterPlan(home, spool, 'x@partner.example', 'y@other.example');
  assert.deepEqual(main.messages.map((m) => m.to), [['y@other.example']], 'the default account sent only what the plan gave it');
  assert.deepEqual(relay.messages.map((m) => m.to), [['x@partner.example']], 'the next pass gave x to its own account');
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 2);
  assert.deepEqual(await listEntryIds(spool), []);
});

test('with one smarthost too, a batch takes only what the plan counted: a recipient made due after the plan goes in the next pass', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const result = await flushWithRetryAfterPlan(home, await openSpool(home), 'x@example.net', 'y@example.net');
  assert.deepEqual(server.messages.map((m) => m.to), [['y@example.net'], ['x@example.net']], 'y as planned, then x in the next pass');
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 2);
  assert.equal(result.remaining, 0);
});
