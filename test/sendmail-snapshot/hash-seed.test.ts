/**
 * src/sendmail-snapshot/hash-seed.ts: the seeds it draws are ones V8 takes
 * as they are (1 to 18 digits: not 0, V8's "random", nor above 2^63-1,
 * which V8 replaces by a random seed), from the random bytes given, and
 * the flags a seeded blob is built and run with.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { hashSeedFlags, isHashSeed, randomHashSeed } from '../../src/sendmail-snapshot/hash-seed.js';

/** Random bytes replayed: each `seeds` value shifted left by 4 (randomHashSeed keeps 60 of the 64 bits). */
function replay(seeds: bigint[]): (bytes: number) => Buffer {
  let next = 0;
  return (bytes) => {
    const buf = Buffer.alloc(bytes);
    buf.writeBigUInt64LE(seeds[next++ % seeds.length]! << 4n);
    return buf;
  };
}

test('randomHashSeed: from the random bytes given, drawing again for 0 and for 10^18 and above', () => {
  assert.equal(randomHashSeed(replay([12345n])), '12345');
  assert.equal(randomHashSeed(replay([0n, 10n ** 18n, (1n << 60n) - 1n, 40n])), '40');
  assert.equal(randomHashSeed(replay([10n ** 18n - 1n])), '999999999999999999');
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const seed = randomHashSeed();
    assert.ok(isHashSeed(seed), seed);
    seen.add(seed);
  }
  assert.equal(seen.size, 20, 'crypto randomness: no two alike');
});

test('isHashSeed: 1 to 18 decimal digits without a leading zero; hashSeedFlags', () => {
  for (const good of ['1', '40', '999999999999999999', '86920068288908036']) assert.equal(isHashSeed(good), true, good);
  for (const bad of ['', '0', '012', '-1', '1e3', ' 40', '40\n', '1000000000000000000', '9223372036854775808', '40;rm', '40$(true)', 'x']) {
    assert.equal(isHashSeed(bad), false, JSON.stringify(bad));
  }
  assert.deepEqual(hashSeedFlags('40'), ['--hash-seed=40', '--no-rehash-snapshot']);
});

test('V8 takes the largest seed isHashSeed allows as it is, and complains of one above 2^63-1 (why the limit)', () => {
  const run = (seed: string) => spawnSync(process.execPath, [`--hash-seed=${seed}`, '-e', '0'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(run('999999999999999999').stderr, '');
  assert.match(run('9223372036854775808').stderr, /out of bounds/);
});
