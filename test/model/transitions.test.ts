import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENTRY_STATE_VERSION, newRecipientState, isEntryComplete, parseEntryState, serializeEntryState, type EntryState } from '../../src/model/entry-state.js';
import { applyOutcomes, makeDueNow, markDsnQueued } from '../../src/model/transitions.js';
import { backoffDelay, type RetryPolicy } from '../../src/model/retry-policy.js';
import { newQueueId, bucketOf, isQueueId, queueIdTime, randomPartInBucket } from '../../src/model/queue-id.js';

const policy: RetryPolicy = { backoffStartMs: 60_000, backoffFactor: 2, backoffMaxMs: 600_000, lifetimeMs: 3_600_000 };
const T0 = Date.parse('2026-11-29T10:00:00Z');

function entry(addresses: string[], from = 'sender@example.org'): EntryState {
  return {
    version: ENTRY_STATE_VERSION,
    id: newQueueId(T0),
    kind: 'message',
    from,
    createdAt: new Date(T0).toISOString(),
    size: 10,
    subject: null,
    messageId: null,
    held: false,
    recipients: addresses.map(newRecipientState),
  };
}

test('sent, failed and deferred outcomes move each recipient', () => {
  const s = entry(['a@x.org', 'b@x.org', 'c@x.org', 'd@x.org']);
  const { state, finals } = applyOutcomes(
    s,
    [
      { address: 'a@x.org', kind: 'sent', reply: '250 ok' },
      { address: 'b@x.org', kind: 'failed', reply: '550 no' },
      { address: 'c@x.org', kind: 'deferred', reply: '450 later' },
    ],
    T0,
    policy,
  );
  const [a, b, c, d] = state.recipients;
  assert.equal(a?.status, 'sent');
  assert.equal(b?.status, 'failed');
  assert.equal(c?.status, 'deferred');
  assert.equal(c?.nextAttemptAt, new Date(T0 + 60_000).toISOString());
  assert.equal(d?.status, 'pending');
  assert.equal(d?.attempts, 0);
  assert.deepEqual(finals.map((f) => [f.address, f.status]), [['a@x.org', 'sent'], ['b@x.org', 'failed']]);
});

test('backoff grows by the factor and stops at the ceiling', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(n, policy)), [60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
});

test('an interrupted transaction is due again at once and grows no backoff', () => {
  const s = entry(['a@x.org']);
  const { state } = applyOutcomes(s, [{ address: 'a@x.org', kind: 'interrupted', reply: 'connection lost' }], T0, policy);
  assert.equal(state.recipients[0]?.status, 'deferred');
  assert.equal(state.recipients[0]?.nextAttemptAt, null);
  assert.equal(state.recipients[0]?.attempts, 1);
});

test('days offline between attempts do not age a recipient toward expiry (promise 4)', () => {
  let s = entry(['a@x.org']);
  s = applyOutcomes(s, [{ address: 'a@x.org', kind: 'deferred', reply: '450' }], T0, policy).state;
  // Ten days later (laptop closed, offline): only the intended backoff counts.
  s = applyOutcomes(s, [{ address: 'a@x.org', kind: 'deferred', reply: '450' }], T0 + 10 * 86_400_000, policy).state;
  assert.equal(s.recipients[0]?.status, 'deferred');
  assert.equal(s.recipients[0]?.retryAgeMs, 60_000);
});

test('a recipient deferred for longer than the lifetime expires as failed', () => {
  let s = entry(['a@x.org']);
  let now = T0;
  let finals: ReturnType<typeof applyOutcomes>['finals'] = [];
  for (let i = 0; i < 20 && s.recipients[0]?.status === 'deferred' || i === 0; i++) {
    const result = applyOutcomes(s, [{ address: 'a@x.org', kind: 'deferred', reply: '451 busy' }], now, policy);
    s = result.state;
    finals = result.finals;
    now += backoffDelay(s.recipients[0]!.attempts, policy);
  }
  assert.equal(s.recipients[0]?.status, 'failed');
  assert.match(s.recipients[0]?.lastReply ?? '', /^expired after \d+ attempts; last reply: 451 busy/);
  assert.equal(finals[0]?.expired, true);
  assert.ok(s.recipients[0]!.retryAgeMs >= policy.lifetimeMs);
});

test('final recipients never move again', () => {
  let s = entry(['a@x.org']);
  s = applyOutcomes(s, [{ address: 'a@x.org', kind: 'sent', reply: '250' }], T0, policy).state;
  const again = applyOutcomes(s, [{ address: 'a@x.org', kind: 'failed', reply: '550' }], T0, policy);
  assert.equal(again.state.recipients[0]?.status, 'sent');
  assert.equal(again.finals.length, 0);
});

test('retry makes deferred recipients due now; complete needs reported failures', () => {
  let s = entry(['a@x.org', 'b@x.org']);
  s = applyOutcomes(
    s,
    [
      { address: 'a@x.org', kind: 'deferred', reply: '450' },
      { address: 'b@x.org', kind: 'failed', reply: '550' },
    ],
    T0,
    policy,
  ).state;
  const { state, changed } = makeDueNow(s);
  assert.equal(changed, 1);
  assert.equal(state.recipients[0]?.nextAttemptAt, null);
  const done = applyOutcomes(state, [{ address: 'a@x.org', kind: 'sent', reply: '250' }], T0, policy).state;
  assert.equal(isEntryComplete(done), false, 'the failure is not reported yet');
  assert.equal(isEntryComplete(markDsnQueued(done, ['b@x.org'])), true);
  assert.equal(isEntryComplete({ ...done, from: '' }), true, 'no DSN for the null sender');
});

test('state files round-trip and bad ones are rejected with E_CORRUPT_STATE', () => {
  const s = entry(['a@x.org']);
  assert.deepEqual(parseEntryState(serializeEntryState(s), s.id), s);
  for (const bad of ['{', '[]', JSON.stringify({ ...s, version: 9 }), JSON.stringify({ ...s, recipients: [] }),
    JSON.stringify({ ...s, recipients: [{ ...s.recipients[0], status: 'lost' }] })]) {
    assert.throws(() => parseEntryState(bad, s.id), (err: Error & { code?: string }) => err.code === 'E_CORRUPT_STATE');
  }
  assert.throws(() => parseEntryState(serializeEntryState(s), newQueueId()), /does not match/);
});

test('queue ids sort by time, are unique, and spread over buckets', () => {
  const ids = Array.from({ length: 2000 }, () => newQueueId(T0));
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(ids.every(isQueueId));
  assert.equal(queueIdTime(ids[0]!), T0);
  assert.ok(newQueueId(T0) < newQueueId(T0 + 1));
  const buckets = new Set(ids.map(bucketOf));
  assert.equal(buckets.size, 16);
});

test('queue ids drawn for a bucket fall in it, and stay unique and random', () => {
  for (const bucket of ['0', '7', 'f']) {
    const ids = Array.from({ length: 500 }, () => newQueueId(T0, bucket));
    assert.ok(ids.every((id) => isQueueId(id) && bucketOf(id) === bucket && queueIdTime(id) === T0));
    assert.equal(new Set(ids).size, ids.length);
    // Every position of the random part takes many values: not the same candidate slot each time.
    for (let at = 9; at < 17; at++) assert.ok(new Set(ids.map((id) => id[at])).size >= 24, `position ${at}`);
  }
});

test('randomPartInBucket: every id of the bucket equally likely (exhaustive over the accepting byte, for many prefixes)', () => {
  // For a fixed 7-byte prefix, each of the k characters that complete the bucket must come out
  // for exactly as many values of the 8th byte (85), and nothing else: the prefix is then kept
  // in proportion to k, which makes every id of the bucket equally likely (as drawing whole
  // ids until one falls in the bucket would).
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const time = '0'.repeat(9);
  let seed = 7;
  const nextByte = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 255;
  for (let sample = 0; sample < 40; sample++) {
    const prefix = Array.from({ length: 7 }, nextByte);
    const prefixChars = prefix.map((b) => alphabet[b & 31]).join('');
    for (let bucket = 0; bucket < 16; bucket++) {
      const completing = [...alphabet].filter((c) => bucketOf(time + prefixChars + c) === bucket.toString(16));
      assert.ok(completing.length >= 1 && completing.length <= 3);
      const counts = new Map<string, number>();
      for (let u = 0; u < 256; u++) {
        const part = randomPartInBucket(Uint8Array.from([...prefix, u]), 0, bucket);
        if (part === null) continue;
        assert.equal(part.slice(0, 7), prefixChars);
        assert.equal(bucketOf(time + part), bucket.toString(16));
        counts.set(part[7]!, (counts.get(part[7]!) ?? 0) + 1);
      }
      assert.deepEqual([...counts.keys()].sort(), completing.sort(), `prefix ${prefixChars}, bucket ${bucket}`);
      assert.ok([...counts.values()].every((n) => n === 85), `prefix ${prefixChars}, bucket ${bucket}: ${[...counts.values()]}`);
    }
  }
  // Read at the offset given.
  const bytes = Uint8Array.from([9, 9, 9, 0, 1, 2, 3, 4, 5, 6, 0]);
  assert.equal(randomPartInBucket(bytes, 3, 5)?.slice(0, 7), 'abcdefg');
});
