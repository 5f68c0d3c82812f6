/**
 * Sending limits that survive restarts: the window arithmetic (pure), then
 * real flushes against a smarthost on 127.0.0.1: a list post of 300
 * recipients under 100rcpt/day over three simulated days (injected clock),
 * each limit kind across engine restarts, real processes, and a kill -9 in
 * the middle of a flush. A limit never lets more through than it says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCaptureServer } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, messageText, queuePosts } from '../support/spool-fixtures.js';
import { collect, runCli, spawnCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, readAccountHold, readEntryState, readSendLedger } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { capacityNow, parseLimits, resumeAt } from '../../src/model/sending-limits.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('limits parse, and count in sliding windows', () => {
  const limits = parseLimits('100/hour, 500rcpt/day,2/second');
  assert.deepEqual(
    limits.map((l) => [l.count, l.of, l.unit]),
    [[100, 'messages', 'hour'], [500, 'recipients', 'day'], [2, 'messages', 'second']],
  );
  assert.deepEqual(parseLimits(''), []);
  for (const bad of ['100', '100/week', 'ten/hour', '0/hour', '100/hour;5/day']) {
    assert.throws(() => parseLimits(bad), (err: Error & { exitCode?: number }) => err.exitCode === 78, bad);
  }
  const [rcpt] = parseLimits('10rcpt/hour');
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const ledger = [{ at: t0, recipients: 4 }, { at: t0 + 10 * 60_000, recipients: 4 }];
  assert.deepEqual(capacityNow([rcpt!], ledger, t0 + 20 * 60_000), { recipients: 2, blockedBy: null });
  const full = [...ledger, { at: t0 + 20 * 60_000, recipients: 2 }];
  assert.equal(capacityNow([rcpt!], full, t0 + 30 * 60_000).blockedBy, rcpt);
  // Sliding: the first record leaves the window an hour after it was sent, not at a fixed boundary.
  assert.equal(resumeAt(rcpt!, full, t0 + 30 * 60_000), t0 + HOUR);
  assert.equal(capacityNow([rcpt!], full, t0 + HOUR + 1).recipients, 4);
});

test('a list post of 300 recipients under 100rcpt/day goes out over three days, each recipient once', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, limits: '100rcpt/day', maxRecipientsPerTransaction: 40 });
  const members = Array.from({ length: 300 }, (_, i) => `m${String(i).padStart(3, '0')}@d${i % 3}.example.net`);
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: members, message: messageText('list post') });
  const day0 = Date.parse('2026-11-30T09:00:00Z');
  const delivered = () => server.messages.reduce((n, m) => n + m.to.length, 0);

  const first = await flushQueue({ home, now: () => day0 });
  assert.equal(first.outcome, 'held');
  assert.equal(first.exitCode, 75);
  assert.equal(first.sent, 100);
  assert.equal(delivered(), 100);
  assert.deepEqual(server.messages.map((m) => m.to.length), [40, 40, 20], 'the last chunk shrinks to what the limit allows');
  const hold = readAccountHold(spool, 'default');
  assert.equal(hold?.kind, 'limit');
  assert.equal(hold?.until, new Date(day0 + DAY).toISOString());
  const status = await runCli(['status'], { home });
  assert.match(status.stdout, /100\/300 sent/, 'status shows where the post stands');
  assert.match(status.stdout, /^account default held by the sending limit \(100rcpt\/day\), resumes at (\w+ \d+ (\d{4} )?)?\d\d:\d\d/m);

  // A day is not over yet: nothing goes, the smarthost is not even asked.
  const connections = server.connections;
  const early = await flushQueue({ home, now: () => day0 + DAY - 60_000 });
  assert.equal(early.outcome, 'held');
  assert.equal(server.connections, connections);

  const second = await flushQueue({ home, now: () => day0 + DAY + 60_000 });
  assert.equal(second.outcome, 'held');
  assert.equal(delivered(), 200);
  const third = await flushQueue({ home, now: () => day0 + 2 * DAY + 120_000 });
  assert.equal(third.outcome, 'done', JSON.stringify(third));
  assert.equal(delivered(), 300);
  assert.deepEqual([...server.deliveriesByRecipient().values()].filter((n) => n !== 1), [], 'each member once');
  assert.equal(await readEntryState(spool, id), null, 'the post is complete');
  assert.equal(readAccountHold(spool, 'default'), null);
});

for (const [limits, per, kind] of [
  ['3/minute', 60_000, 'messages per minute'],
  ['3rcpt/hour', HOUR, 'recipients per hour'],
  ['3/day', DAY, 'messages per day'],
] as const) {
  test(`${kind} (${limits}): counted across engine restarts, freed when the window slides`, async (t) => {
    const server = await startCaptureServer();
    t.after(() => server.close());
    const { home, spool } = await homeWithSpool(t);
    await writeConfig(home, { smarthost: server.url, limits });
    // Two recipients per message: a recipient limit cuts a transaction in two.
    await queuePosts(spool, 4, (i) => [`a${i}@x.example`, `b${i}@y.example`]);
    const t0 = Date.parse('2026-11-30T09:00:00Z');
    const recipients = () => server.messages.reduce((n, m) => n + m.to.length, 0);
    const first = await flushQueue({ home, now: () => t0 });
    assert.equal(first.outcome, 'held');
    if (limits.includes('rcpt')) assert.equal(recipients(), 3);
    else assert.equal(server.messages.length, 3);
    assert.equal(readSendLedger(spool, 'default').length, server.messages.length, 'every transaction in the ledger');
    // A new engine (as after a restart) reads the counts from the spool.
    const before = server.messages.length;
    const again = await flushQueue({ home, now: () => t0 + per - 1_000 });
    assert.equal(again.outcome, 'held');
    assert.equal(server.messages.length, before);
    await flushQueue({ home, now: () => t0 + per + 1_000 });
    assert.ok(server.messages.length > before, 'the window slid: more went out');
    if (limits.includes('rcpt')) assert.equal(recipients(), 6);
    else assert.equal(server.messages.length, 4, 'the fourth message, the only one left');
  });
}

test('real processes: a second flush does not reset the count; kill -9 mid-flush never lets more through than the limit', async (t) => {
  const server = await startCaptureServer({ dataDelayMs: 40 });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, limits: '12/hour', concurrency: 2 });
  await queuePosts(spool, 30);

  const child = spawnCli(['flush'], { home });
  const done = collect(child);
  await server.waitForMessages(4);
  child.kill('SIGKILL');
  await done;
  const afterKill = server.messages.length;
  assert.ok(afterKill >= 4 && afterKill <= 12);

  const second = await runCli(['flush'], { home });
  assert.equal(second.code, 75, second.stderr);
  assert.match(second.stderr + second.stdout, /held by the sending limit \(12\/hour\), resumes at (\w+ \d+ (\d{4} )?)?\d\d:\d\d/);
  assert.ok(server.messages.length <= 12, `${server.messages.length} sent under 12/hour`);
  const third = await runCli(['flush'], { home });
  assert.equal(third.code, 75);
  assert.ok(server.messages.length <= 12, 'a third process does not reset the count either');
  assert.ok((await listStateFileIdsIncludingFinished(spool)).length >= 18, 'the rest waits');
});
