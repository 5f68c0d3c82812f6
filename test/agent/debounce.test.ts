/**
 * The nudge debouncer with injected timers: a burst is one call, a steady
 * stream still fires every maxWait, cancel drops what is pending.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Debouncer, type DebounceTimers } from '../../src/agent/debounce.js';

function fakeTimers() {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let id = 0;
  const api: DebounceTimers = {
    now: () => now,
    setTimeout: (fn, ms) => (timers.push({ at: now + ms, fn, id: ++id }), id),
    clearTimeout: (h) => (timers = timers.filter((t) => t.id !== h)),
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (let t = timers.sort((a, b) => a.at - b.at)[0]; t && t.at <= end; t = timers.sort((a, b) => a.at - b.at)[0]) {
      now = t.at;
      timers = timers.filter((x) => x !== t);
      t.fn();
    }
    now = end;
  };
  return { api, advance, pending: () => timers.length };
}

test('a burst of pokes fires once, quietMs after the last', () => {
  const t = fakeTimers();
  let fired = 0;
  const d = new Debouncer(() => fired++, 250, 2_000, t.api);
  for (let i = 0; i < 5; i++) {
    d.poke();
    t.advance(100);
  }
  assert.equal(fired, 0);
  t.advance(150);
  assert.equal(fired, 1);
  t.advance(10_000);
  assert.equal(fired, 1);
});

test('a steady stream still fires every maxWaitMs', () => {
  const t = fakeTimers();
  let fired = 0;
  const d = new Debouncer(() => fired++, 250, 2_000, t.api);
  for (let i = 0; i < 60; i++) {
    d.poke();
    t.advance(100); // 6 s of pokes every 100 ms
  }
  assert.equal(fired, 3, 'at 2 s, 4 s and 6 s');
  t.advance(10_000);
  assert.equal(fired, 3, 'nothing left over once the stream stops');
});

test('cancel drops the pending call', () => {
  const t = fakeTimers();
  let fired = 0;
  const d = new Debouncer(() => fired++, 250, 2_000, t.api);
  d.poke();
  d.cancel();
  t.advance(5_000);
  assert.equal(fired, 0);
  assert.equal(t.pending(), 0);
});
