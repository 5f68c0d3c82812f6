/**
 * src/sendmail-snapshot/hash-seed.ts: the replica of V8's
 * rapidhash_make_secret finds the secrets V8 finds, with the work V8 does;
 * the seed chooser takes the cheapest of its random candidates, in the
 * range V8 takes as it is (1 to 18 digits: not 0, V8's "random", nor above
 * 2^63-1, which V8 replaces by a random seed); seed tokens and their flags;
 * a blob holds its seed's secrets only when rehashed at build, and only
 * then runs without rehashing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runTokenFor } from '../../src/sendmail-snapshot/build.js';
import { chooseHashSeed, HASH_SEED_CANDIDATES, hashSeedBuildFlags, holdsSecretsOf, isHashSeed, isSeedToken, makeSecretWork, seedToken, seedTokenFlags } from '../../src/sendmail-snapshot/hash-seed.js';

/**
 * Known answers. Obtained on 2026-12-01 by compiling
 * deps/v8/third_party/rapidhash-v8/secret.h (nodejs/node, the copy shared by
 * v20.20.2, v22.23.5 and v24.22.3) with g++ 13 -O2 (rapid_mix and
 * CountPopulation from rapidhash.h and src/base/bits.h, the mul_mod `%`
 * and sprp calls counted) and running rapidhash_make_secret(seed). The
 * secrets and sprp call counts for seeds 40 and 18 were also read out of
 * the real binaries of all three versions with gdb (a breakpoint on
 * detail::sprp under `node --hash-seed=S -e 0`: 49 and 214 calls, the last
 * three primes tested twelve times each being these secrets).
 */
const KNOWN: { seed: bigint; secrets: [bigint, bigint, bigint]; sprpRounds: number; modulos: number }[] = [
  { seed: 1n, secrets: [0x0ff09999359563a5n, 0x2d6c35b48de81b2bn, 0xd2ca93c527b49c2bn], sprpRounds: 91, modulos: 705_799 },
  { seed: 18n, secrets: [0xcc2b664be18de839n, 0x59531d662b4d8bc9n, 0x4dc6a9a94e8ec333n], sprpRounds: 214, modulos: 1_668_280 },
  { seed: 40n, secrets: [0x2ec3479c69a9d855n, 0x1d35ac5cd22d8b4dn, 0x6647b136d136e1c3n], sprpRounds: 49, modulos: 381_747 },
  { seed: 12345n, secrets: [0xe12bc6d12bb2e8a9n, 0xa9e46c9cca9c3c93n, 0x171dd4d447ac9387n], sprpRounds: 93, modulos: 726_582 },
  { seed: 86920068288908036n, secrets: [0xb1ca964793561ea5n, 0xf01e4d935c5c938bn, 0x4ea66c36f0e296a5n], sprpRounds: 40, modulos: 322_381 },
  { seed: 18446744073709551615n, secrets: [0x550fc6c5d4aa6a95n, 0xd16ce139c6e1b44dn, 0xb239d83c653c4ec5n], sprpRounds: 69, modulos: 548_979 },
];

test('makeSecretWork finds the secrets and does the work of V8\'s rapidhash_make_secret (known answers from the C code)', () => {
  for (const known of KNOWN) {
    const work = makeSecretWork(known.seed);
    assert.deepEqual(work.secrets, known.secrets, `seed ${known.seed}`);
    assert.equal(work.sprpRounds, known.sprpRounds, `seed ${known.seed}`);
    assert.equal(work.modulos, known.modulos, `seed ${known.seed}`);
  }
});

test('the secrets obey secret.h\'s rules: balanced bytes, pairwise popcount(xor) 32, odd', () => {
  const popcount = (x: bigint): number => x.toString(2).replace(/0/g, '').length;
  for (let i = 0; i < 5; i++) {
    const { secrets } = makeSecretWork(randomBytes(8).readBigUInt64LE(0));
    for (const word of secrets) {
      assert.equal(word & 1n, 1n);
      for (let byte = 0n; byte < 64n; byte += 8n) assert.equal(popcount((word >> byte) & 0xffn), 4);
    }
    assert.equal(popcount(secrets[0] ^ secrets[1]), 32);
    assert.equal(popcount(secrets[0] ^ secrets[2]), 32);
    assert.equal(popcount(secrets[1] ^ secrets[2]), 32);
  }
});

/** Random bytes replayed: each `seeds` value shifted left by 4 (the chooser keeps 60 of the 64 bits). */
function replay(seeds: bigint[]): (bytes: number) => Buffer {
  let next = 0;
  return (bytes) => {
    const buf = Buffer.alloc(bytes);
    buf.writeBigUInt64LE(seeds[next++ % seeds.length]! << 4n);
    return buf;
  };
}

test('chooseHashSeed takes the cheapest of its candidates, from the random bytes given, drawing again for 0 and for 10^18 and above', () => {
  assert.equal(chooseHashSeed(3, replay([18n, 40n, 1n])), '40');
  assert.equal(chooseHashSeed(3, replay([1n, 18n, 40n])), '40');
  assert.equal(chooseHashSeed(1, replay([18n])), '18');
  assert.equal(chooseHashSeed(1, replay([0n, 10n ** 18n, (1n << 60n) - 1n, 12345n])), '12345');
  assert.equal(chooseHashSeed(1, replay([10n ** 18n - 1n])), '999999999999999999');
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const seed = chooseHashSeed();
    assert.ok(isHashSeed(seed), seed);
    seen.add(seed);
    // Cheap: among 64 random seeds the cheapest searched at most ~60 rounds in every trial (the median seed ~90).
    assert.ok(makeSecretWork(BigInt(seed)).sprpRounds < 120, seed);
  }
  assert.equal(seen.size, 3, 'crypto randomness: no two alike');
  assert.equal(HASH_SEED_CANDIDATES, 64);
});

test('isHashSeed: 1 to 18 decimal digits without a leading zero; seed tokens and their flags', () => {
  for (const good of ['1', '40', '999999999999999999', '86920068288908036']) assert.equal(isHashSeed(good), true, good);
  for (const bad of ['', '0', '012', '-1', '1e3', ' 40', '40\n', '1000000000000000000', '9223372036854775808', '40;rm', '40$(true)', 'x', '40n']) {
    assert.equal(isHashSeed(bad), false, JSON.stringify(bad));
  }
  for (const good of ['40', '40n', '999999999999999999n']) assert.equal(isSeedToken(good), true, good);
  for (const bad of ['n', '0n', '40nn', '40N', 'n40', '040n', '1000000000000000000n', '40 n']) assert.equal(isSeedToken(bad), false, JSON.stringify(bad));
  assert.equal(seedToken('40', true), '40');
  assert.equal(seedToken('40', false), '40n');
  assert.deepEqual(seedTokenFlags('40'), ['--hash-seed=40']);
  assert.deepEqual(seedTokenFlags('40n'), ['--hash-seed=40', '--no-rehash-snapshot']);
  assert.deepEqual(hashSeedBuildFlags('40'), ['--hash-seed=40']);
});

test('V8 takes the largest seed isHashSeed allows as it is, and complains of one above 2^63-1 (why the limit)', () => {
  const run = (seed: string) => spawnSync(process.execPath, [`--hash-seed=${seed}`, '-e', '0'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(run('999999999999999999').stderr, '');
  assert.match(run('9223372036854775808').stderr, /out of bounds/);
});

test('holdsSecretsOf tells a blob built with --hash-seed (its seed\'s secrets) from one built with --no-rehash-snapshot too (Node\'s own); runTokenFor runs the latter rehashed or not at all, never as <seed>n', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkmailer-hash-seed-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // A snapshot that answers as the sendmail snapshot answers runTokenFor's probe: a usage error, exit 64.
  const script = path.join(dir, 'snapshot.cjs');
  await fs.writeFile(script, "require('v8').startupSnapshot.setDeserializeMainFunction(() => process.exit(64));\n");
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const build = (blob: string, flags: string[]) => {
    const made = spawnSync(process.execPath, [...flags, '--snapshot-blob', blob, '--build-snapshot', script], { env, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
  };
  const seeded = path.join(dir, 'seeded.blob');
  const shared = path.join(dir, 'shared.blob');
  build(seeded, hashSeedBuildFlags('40'));
  build(shared, [...hashSeedBuildFlags('40'), '--no-rehash-snapshot']);
  assert.equal(holdsSecretsOf(await fs.readFile(seeded), '40'), true);
  assert.equal(holdsSecretsOf(await fs.readFile(seeded), '18'), false, 'another seed\'s secrets are not in it');
  assert.equal(holdsSecretsOf(await fs.readFile(shared), '40'), false, 'not rehashed at build: Node\'s own secrets');
  // The blob built without the rehash loads as <seed>n (on Node 20 too: its flags are its build's), holding Node's own
  // secrets: never given that token. Node 20 then refuses it with --hash-seed alone (flags differ); 22 and 24 rehash it.
  const run = runTokenFor(shared, '40', env);
  assert.ok(!('token' in run) || run.token === '40', JSON.stringify(run));
  assert.equal('token' in run, !process.versions.node.startsWith('20.'), JSON.stringify(run));
  assert.deepEqual(runTokenFor(seeded, '40', env), { token: process.versions.node.startsWith('20.') ? '40' : '40n' });
});
