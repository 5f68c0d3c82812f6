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
import { partnerRoutedHome, smarthostAndHome } from '../support/smarthost-home.js';
import { listStateFileIdsIncludingFinished, openSpool } from '../../src/spool/index.js';
import { flushWithRetryAfterPlan } from '../support/retry-after-plan.js';

test('a recipient of another account made due between the plan and the delivery is not sent by the account the entry went to', async (t) => {
  const { main, relay, home, spool } = await partnerRoutedHome(t);
  // x@partner.example is relay's: the plan gives the entry to the default account, for y only.
  const result = await flushWithRetryAfterPlan(home, spool, 'x@partner.example', 'y@other.example');
  assert.deepEqual(main.messages.map((m) => m.to), [['y@other.example']], 'the default account sent only what the plan gave it');
  assert.deepEqual(relay.messages.map((m) => m.to), [['x@partner.example']], 'the next pass gave x to its own account');
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 2);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('with one smarthost too, a batch takes only what the plan counted: a recipient made due after the plan goes in the next pass', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const result = await flushWithRetryAfterPlan(home, await openSpool(home), 'x@example.net', 'y@example.net');
  assert.deepEqual(server.messages.map((m) => m.to), [['y@example.net'], ['x@example.net']], 'y as planned, then x in the next pass');
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 2);
  assert.equal(result.remaining, 0);
});
