/**
 * The planner's feeds and backlog (src/flush/entry-feed.ts), pure: ids
 * reach the sessions in order, a session waiting for one is answered when
 * it is pushed or when the feed closes, an ended feed lets its queued ids
 * go (each leaves once) and takes no more, and the backlog holds the
 * planner until it falls below its limit or the flush stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backlog, EntryFeed } from '../../src/flush/entry-feed.js';

test('a feed hands its ids in order, answers a waiting session when one comes, and undefined once closed and empty', async () => {
  const left: string[] = [];
  const feed = new EntryFeed((id) => left.push(id));
  assert.equal(feed.push('a'), true);
  assert.equal(feed.push('b'), true);
  assert.equal(feed.queued, 2);
  assert.equal(await feed.next(), 'a');
  assert.equal(await feed.next(), 'b');
  const waiting = feed.next();
  feed.push('c');
  assert.equal(await waiting, 'c');
  feed.done('a');
  feed.push('d');
  const idle = feed.next().then((id) => feed.next().then((after) => [id, after]));
  feed.close();
  assert.deepEqual(await idle, ['d', undefined], 'what was queued before the close is still taken');
  assert.equal(feed.push('e'), false, 'a closed feed takes nothing');
  assert.deepEqual(left, ['a']);
});

test('an ended feed lets its queued ids go once, answers waiting sessions, and takes no more', async () => {
  const left: string[] = [];
  const feed = new EntryFeed((id) => left.push(id));
  const waiter = new EntryFeed(() => {});
  const pending = waiter.next();
  waiter.end();
  assert.equal(await pending, undefined);
  feed.push('a');
  feed.push('b');
  feed.push('c');
  assert.equal(await feed.next(), 'a');
  feed.end();
  feed.end();
  assert.deepEqual(left, ['b', 'c'], 'each queued id leaves once');
  assert.equal(feed.ended, true);
  assert.equal(feed.push('d'), false);
  assert.equal(await feed.next(), undefined);
  feed.done('a');
  assert.deepEqual(left, ['b', 'c', 'a']);
});

test('the backlog holds the planner at its limit until entries leave, or the flush stops', async () => {
  const backlog = new Backlog();
  backlog.add(3);
  let through = false;
  const held = backlog.below(3, () => false).then(() => (through = true));
  await Promise.resolve();
  assert.equal(through, false);
  backlog.remove();
  await held;
  assert.equal(through, true);
  assert.equal(backlog.size, 2);

  let stop = false;
  backlog.add(5);
  const stopped = backlog.below(3, () => stop);
  stop = true;
  backlog.wake();
  await stopped;
  assert.equal(backlog.size, 7, 'stopping lets the planner go without anything leaving');
});

test('an entry handed back goes to a session waiting for one at once, else first to the next; after the end it leaves', async () => {
  const left: string[] = [];
  const feed = new EntryFeed((id) => left.push(id));
  // A session waits while the planner has nothing ready: the handed-back entry reaches it without the planner.
  const waiting = feed.next();
  feed.giveBack('x');
  assert.equal(await waiting, 'x');
  // None waiting: it goes before what was queued, and still after a close.
  feed.push('a');
  feed.giveBack('y');
  feed.close();
  assert.equal(await feed.next(), 'y');
  assert.equal(await feed.next(), 'a');
  assert.equal(await feed.next(), undefined);
  assert.deepEqual(left, [], 'nothing left the feed: handed back is not done');
  // Once the batch has ended, a handed-back entry leaves (for a later pass), once.
  feed.end();
  feed.giveBack('z');
  assert.deepEqual(left, ['z']);
});
