/**
 * The flush plans and delivers as a pipeline (src/flush/flush.ts): the
 * planner reads the queue a window at a time and feeds the accounts'
 * batches as it goes, waiting while a window's worth waits for delivery.
 * With windows of a few entries (FlushOptions.planWindow), these tests
 * cross window boundaries with the real engine against smarthosts on
 * 127.0.0.1: everything delivered once with the right counts, delivery
 * under way before the planner has read the queue, planned entries
 * bounded by the window, sessions kept across windows, an account first
 * needed in a later window prepared then, and a stop mid-stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCaptureServer } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, messageText } from '../support/spool-fixtures.js';
import { enqueueMessage, listStateFileIdsIncludingFinished } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

const WINDOW = 3;

/** Each recipient received exactly once. */
function assertOnceEach(deliveries: Map<string, number>, expected: string[]): void {
  assert.deepEqual([...deliveries.keys()].sort(), [...expected].sort());
  for (const [address, times] of deliveries) assert.equal(times, 1, `${address} received ${times} times`);
}

test('a queue of many windows is delivered whole, once each, with delivery under way before the planner reads on and planned entries bounded', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 2 });
  const entries = 14;
  const recipients: string[] = [];
  for (let i = 0; i < entries; i++) {
    const to = [`m${i}-a@x.example`, `m${i}-b@y.example`];
    recipients.push(...to);
    await enqueueMessage(spool, { from: 'list@example.org', recipients: to, message: messageText(`message ${i}`) });
  }

  const events = new FlushEvents();
  const order: string[] = [];
  let planned = 0;
  let plannedRecipients = 0;
  let removed = 0;
  let mostWaiting = 0;
  events.on('start', (e) => {
    order.push(`start ${e.pass}`);
    planned += e.dueEntries;
    plannedRecipients += e.dueRecipients;
    mostWaiting = Math.max(mostWaiting, planned - removed);
  });
  events.on('planned', (e) => {
    order.push(`planned ${e.pass}`);
    planned += e.dueEntries;
    plannedRecipients += e.dueRecipients;
    mostWaiting = Math.max(mostWaiting, planned - removed);
  });
  events.on('transaction', () => order.push('transaction'));
  events.on('entry-removed', () => void removed++);
  const result = await flushQueue({ home, events, planWindow: WINDOW });

  assert.equal(result.outcome, 'done');
  assert.equal(result.exitCode, 0);
  assert.equal(result.sent, entries * 2);
  assert.equal(result.messages, entries);
  assert.equal(result.due, entries * 2);
  assert.equal(result.remaining, 0);
  assert.equal(planned, entries, 'every entry planned once, in the first pass');
  assert.equal(plannedRecipients, entries * 2);
  assertOnceEach(server.deliveriesByRecipient(), recipients);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  // The first window is delivered from before the planner reads the second.
  assert.equal(order[0], 'start 0');
  assert.ok(order.indexOf('transaction') < order.indexOf('planned 0'), order.join(', '));
  assert.equal(order.filter((o) => o.startsWith('planned')).length, Math.ceil(entries / WINDOW) - 1);
  // Never more than two windows planned and not yet delivered.
  assert.ok(mostWaiting <= 2 * WINDOW, `${mostWaiting} planned entries waited at once`);
  // The sessions stay open across windows: one probe, then at most one connection per session.
  assert.ok(server.connections <= 1 + 2, `${server.connections} connections`);
});

test('an account first needed in a later window is prepared then, and its mail goes in the same pass', async (t) => {
  const main = await startCaptureServer();
  const club = await startCaptureServer();
  t.after(async () => {
    await main.close();
    await club.close();
  });
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: main.url, concurrency: 1, accounts: { club: { smarthost: club.url, senders: ['@club.example'] } } });
  const mainRecipients: string[] = [];
  for (let i = 0; i < 2 * WINDOW; i++) {
    mainRecipients.push(`main${i}@x.example`);
    await enqueueMessage(spool, { from: 'me@home.example', recipients: [`main${i}@x.example`], message: messageText(`main ${i}`) });
  }
  // Only the last window has the club's mail.
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['c1@y.example', 'c2@y.example'], message: messageText('club', 'list@club.example') });

  const events = new FlushEvents();
  const passes: number[] = [];
  let clubConnectionsAtFirstSend: number | null = null;
  events.on('start', (e) => passes.push(e.pass));
  events.on('transaction', () => (clubConnectionsAtFirstSend ??= club.connections));
  const result = await flushQueue({ home, events, planWindow: WINDOW });

  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 2 * WINDOW + 2);
  assert.equal(result.messages, 2 * WINDOW + 1);
  assert.equal(result.remaining, 0);
  assert.deepEqual(passes, [0], 'one pass: nothing left for a second');
  assert.equal(clubConnectionsAtFirstSend, 0, 'the club account was not contacted before the planner met its mail');
  assertOnceEach(main.deliveriesByRecipient(), mainRecipients);
  assertOnceEach(club.deliveriesByRecipient(), ['c1@y.example', 'c2@y.example']);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a stop mid-stream leaves the rest queued, counted, and nothing is sent twice when the next flush finishes it', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 1 });
  const entries = 4 * WINDOW;
  const recipients: string[] = [];
  for (let i = 0; i < entries; i++) {
    recipients.push(`r${i}@x.example`);
    await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@x.example`], message: messageText(`message ${i}`) });
  }

  const controller = new AbortController();
  const events = new FlushEvents();
  let transactions = 0;
  events.on('transaction', () => {
    if (++transactions === WINDOW + 1) controller.abort();
  });
  const stopped = await flushQueue({ home, events, signal: controller.signal, planWindow: WINDOW });

  assert.equal(stopped.outcome, 'stopped');
  assert.equal(stopped.exitCode, 75);
  assert.equal(stopped.sent, WINDOW + 1, 'the transaction in flight finished; none started after the stop');
  assert.equal(server.messages.length, WINDOW + 1);
  assert.ok(stopped.remaining > 0);
  assert.equal(stopped.remaining, stopped.due - stopped.sent);
  assert.equal((await listStateFileIdsIncludingFinished(spool)).length, entries - (WINDOW + 1));

  const rest = await flushQueue({ home, planWindow: WINDOW });
  assert.equal(rest.outcome, 'done');
  assert.equal(rest.sent, entries - (WINDOW + 1));
  assertOnceEach(server.deliveriesByRecipient(), recipients);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});
