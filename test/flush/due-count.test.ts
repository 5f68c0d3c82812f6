/**
 * What a flush says is left is what waits in the spool: `remaining` (and
 * with it the outcome and exit status) counts every recipient still due,
 * however its entry was split between accounts and whichever pass would
 * have worked it. Two accounts on two capture smarthosts on 127.0.0.1,
 * routed by recipient domain; one of them is lost during the run (its
 * server refuses AUTH, goes away, or does not answer when a later pass
 * first needs it), after the planner had counted on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCaptureServer, type CaptureOptions, type CaptureServer } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, messageText } from '../support/spool-fixtures.js';
import { partnerRoutedHome } from '../support/smarthost-home.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, readEntryState, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

/** Recipients not final in the spool, as address -> status. */
async function waiting(spool: Spool): Promise<Record<string, string>> {
  const left: Record<string, string> = {};
  for (const id of await listStateFileIdsIncludingFinished(spool)) {
    for (const r of (await readEntryState(spool, id))!.recipients) if (r.status === 'pending' || r.status === 'deferred') left[r.address] = r.status;
  }
  return left;
}

/** The default account (sender me@home.example) and `relay` for partner.example; the split entry first, then relay's own. */
async function splitQueue(t: { after: (fn: () => Promise<void>) => void }, relay: CaptureOptions = {}, relayUrl?: (relay: CaptureServer) => string) {
  const { main, relay: relayServer, home, spool } = await partnerRoutedHome(t, { relay, relayUrl });
  // Worked by the default account in the first pass; its partner.example recipient waits for a later pass.
  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['x@partner.example', 'y@other.example'], message: messageText('split') });
  // The relay account's own: the first pass gives it to relay, which is lost on it.
  await enqueueMessage(spool, { from: 'relay-only@nowhere.example', recipients: ['f@partner.example'], message: messageText('relay') });
  return { main, relay: relayServer, home, spool };
}

test('an account that refuses AUTH after the plan counted on it: held, and both recipients it leaves are counted as waiting', async (t) => {
  const refuseAuth: CaptureOptions = {
    server: {
      authOptional: false,
      allowInsecureAuth: true,
      onAuth: (_auth, _session, callback) => callback(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 })),
    },
  };
  const { main, relay, home, spool } = await splitQueue(t, refuseAuth, (server) => `smtp://owner:secret@127.0.0.1:${server.port}`);
  const result = await flushQueue({ home });
  assert.deepEqual(main.messages.map((m) => m.to), [['y@other.example']]);
  assert.equal(relay.messages.length, 0);
  assert.deepEqual(await waiting(spool), { 'x@partner.example': 'pending', 'f@partner.example': 'pending' });
  assert.equal(result.outcome, 'held');
  assert.equal(result.exitCode, 77);
  assert.equal(result.sent, 1);
  assert.equal(result.remaining, 2, 'x@partner.example (its entry was counted for the default account) and f@partner.example');
});

test('an account whose smarthost goes away after the plan counted on it: pending, and both recipients it leaves are counted', async (t) => {
  const { main, relay, home, spool } = await splitQueue(t);
  const events = new FlushEvents();
  // Both accounts answered their probe and the first window is planned; relay's server goes before any session opens.
  let stopped: Promise<void> | null = null;
  events.on('start', () => void (stopped ??= relay.stop()));
  const result = await flushQueue({ home, events });
  assert.notEqual(stopped, null);
  assert.deepEqual(main.messages.map((m) => m.to), [['y@other.example']]);
  assert.deepEqual(await waiting(spool), { 'x@partner.example': 'pending', 'f@partner.example': 'pending' });
  assert.equal(result.smarthostLost, true);
  assert.equal(result.outcome, 'pending');
  assert.equal(result.exitCode, 75);
  assert.equal(result.remaining, 2);
});

test('a bounce whose account a later pass needs first and finds down: pending (75), not done, and the bounce waits untouched', async (t) => {
  const { relay, home, spool } = await partnerRoutedHome(t, {
    main: { rcptReply: (a) => (a.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) },
    config: { timeouts: { probe: '2s' } },
  });
  await relay.stop();
  // The sender's domain routes to relay: its bounce, made in the first pass, needs relay in the second.
  await enqueueMessage(spool, { from: 'me@partner.example', recipients: ['gone@other.example'], message: messageText('bounced', 'me@partner.example') });
  const result = await flushQueue({ home });
  assert.equal(result.failed, 1);
  assert.equal(result.bounces, 1);
  assert.deepEqual(await waiting(spool), { 'me@partner.example': 'pending' });
  assert.equal(result.outcome, 'pending');
  assert.equal(result.exitCode, 75);
  assert.equal(result.remaining, 1);
});

test('a provider\'s pause in the middle of a queue of many planning windows: what is left is counted exactly, from what the planner read', async (t) => {
  const GMAIL_LIMIT = { code: 550, message: '5.4.5 Daily user sending limit exceeded - gsmtp' };
  const server = await startCaptureServer({ dataReply: () => (server.messages.length >= 5 ? GMAIL_LIMIT : null) });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 2 });
  for (let i = 0; i < 20; i++) {
    await enqueueMessage(spool, { from: 'list@example.org', recipients: [`a${i}@dest.example`, `b${i}@dest.example`], message: messageText(`post ${i}`) });
  }
  // Windows of 3: some entries wait in the account's feed when the pause comes, the rest are planned after it.
  const result = await flushQueue({ home, planWindow: 3 });
  const left = Object.keys(await waiting(spool)).length;
  // Two sessions: a sixth message may have reached its dot with the fifth.
  assert.ok(server.messages.length >= 5 && server.messages.length <= 6, String(server.messages.length));
  assert.equal(left, 40 - server.messages.length * 2);
  assert.equal(result.outcome, 'held');
  assert.equal(result.hold?.kind, 'quota');
  assert.equal(result.sent, server.messages.length * 2);
  assert.equal(result.remaining, left);
  assert.equal(result.due, 40);
});
