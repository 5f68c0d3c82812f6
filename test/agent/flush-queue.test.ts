/**
 * The agent's single-flight flush queue and its teardown stack, alone:
 * flushes are gated promises the test releases, so every ordering is
 * decided by the test, not by timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlushQueue } from '../../src/agent/flush-queue.js';
import { Releasers } from '../../src/agent/releasers.js';

/** A flush whose every call waits until the test ends it. */
function gatedRun() {
  const calls: { reasons: string[]; end: (err?: Error) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const waiting: (() => void)[] = [];
  const run = (reasons: string[]) =>
    new Promise<void>((resolve, reject) => {
      active++;
      maxActive = Math.max(maxActive, active);
      calls.push({
        reasons,
        end: (err) => {
          active--;
          if (err) reject(err);
          else resolve();
        },
      });
      waiting.splice(0).forEach((w) => w());
    });
  const nextCall = async (n: number) => {
    while (calls.length < n) await new Promise<void>((resolve) => waiting.push(resolve));
    return calls[n - 1]!;
  };
  return { run, calls, nextCall, maxActive: () => maxActive };
}

test('requests during a flush make exactly one more flush, with every reason once, in order', async () => {
  const gate = gatedRun();
  const queue = new FlushQueue<string>(gate.run);
  queue.request('startup');
  const first = await gate.nextCall(1);
  assert.deepEqual(first.reasons, ['startup']);
  queue.request('schedule');
  queue.request('nudge');
  queue.request('schedule');
  assert.equal(gate.calls.length, 1, 'no second flush while one runs');
  assert.ok(queue.current !== null);
  first.end();
  const second = await gate.nextCall(2);
  assert.deepEqual(second.reasons, ['schedule', 'nudge']);
  second.end();
  await queue.idle();
  assert.equal(gate.calls.length, 2);
  assert.equal(gate.maxActive(), 1, 'never two at once');
  assert.equal(queue.current, null);
});

test('a flush that fails is reported and the queue goes on', async () => {
  const gate = gatedRun();
  const errors: unknown[] = [];
  const queue = new FlushQueue<string>(gate.run, (err) => errors.push(err));
  queue.request('startup');
  const first = await gate.nextCall(1);
  queue.request('nudge');
  first.end(new Error('disk on fire'));
  const second = await gate.nextCall(2);
  assert.deepEqual(second.reasons, ['nudge']);
  second.end();
  await queue.idle();
  assert.deepEqual(errors.map((e) => (e as Error).message), ['disk on fire']);
  queue.request('schedule');
  (await gate.nextCall(3)).end();
  await queue.idle();
  assert.equal(gate.calls.length, 3, 'a new request after a failure still flushes');
});

test('close() drops what is queued and ignores later requests; the running flush finishes', async () => {
  const gate = gatedRun();
  const queue = new FlushQueue<string>(gate.run);
  queue.request('startup');
  const first = await gate.nextCall(1);
  queue.request('nudge');
  queue.close();
  queue.request('schedule');
  const running = queue.current;
  assert.ok(running !== null, 'the flush in progress is still there to wait for');
  first.end();
  await running;
  await queue.idle();
  assert.equal(gate.calls.length, 1);
});

test('releasers run newest first, each once, past a failing one', async () => {
  const order: string[] = [];
  const failures: string[] = [];
  const releasers = new Releasers((name, err) => failures.push(`${name}: ${(err as Error).message}`));
  releasers.push('lock', () => void order.push('lock'));
  releasers.push('socket', async () => {
    order.push('socket');
    throw new Error('EBUSY');
  });
  releasers.push('listener', async () => void order.push('listener'));
  assert.equal(releasers.size, 3);
  await releasers.release();
  assert.deepEqual(order, ['listener', 'socket', 'lock']);
  assert.deepEqual(failures, ['socket: EBUSY']);
  await releasers.release();
  assert.deepEqual(order, ['listener', 'socket', 'lock'], 'a second release runs nothing again');
});

test('a releaser pushed while releasing (a resource acquired late) is released too', async () => {
  const order: string[] = [];
  const releasers = new Releasers();
  releasers.push('first', () => void order.push('first'));
  releasers.push('second', () => {
    order.push('second');
    releasers.push('late', () => void order.push('late'));
  });
  await releasers.release();
  assert.deepEqual(order, ['second', 'late', 'first']);
});
