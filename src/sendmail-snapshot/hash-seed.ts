/**
 * The V8 hash seed the sendmail command's start-up snapshots are built and
 * run with, and how it is chosen: per build, from crypto randomness, the
 * cheapest for V8's start-up of HASH_SEED_CANDIDATES random seeds
 * (scripts/bundle-sendmail.mjs for dist's blob, ./build.ts for a per-user
 * one); recorded beside the blob for the launcher (./cache.ts) as a seed
 * token: the seed's digits, and `n` after them when the blob runs with
 * --no-rehash-snapshot.
 *
 * Why: at every isolate start Node 20.20.2, 22.23.5 and 24.22.3 derive
 * V8's string-hash secrets from a random seed (HashSeed::InitializeRoots ->
 * rapidhash_make_secret, deps/v8/third_party/rapidhash-v8/secret.h: a
 * search for three 64-bit primes, 37 to 214 strong-probable-prime rounds
 * by seed) and rehash the snapshot's tables for them. A blob is built with
 * `--hash-seed=<seed>` (rehashed at build, so it holds that seed's
 * secrets), then:
 *   - on Node 22 and 24 it runs with `--hash-seed=<seed>
 *     --no-rehash-snapshot`: V8 keeps the blob's secrets, no search, no
 *     rehash (token `<seed>n`);
 *   - Node 20 refuses a blob run with flags other than its build's (a hash
 *     of the flags is in the blob: exit 14), and a blob built with
 *     --no-rehash-snapshot would hold the secrets of Node's own built-in
 *     snapshot, the same in every copy of that Node: so it runs with
 *     `--hash-seed=<seed>` and rehashes, and the seed is chosen for a short
 *     search (token `<seed>`).
 * The build finds out which by loading the blob (./build.ts,
 * runTokenFor). Measured in docs/performance.md ("V8's hash seed for the
 * sendmail command's snapshot").
 *
 * Why random per build, not a constant of ours: the seed keys V8's hash
 * tables (property names, JSON objects, Maps); a seed published in our
 * source (or secrets shared by every copy of a Node binary) would let
 * anyone craft input whose keys all collide (HashDoS). The chosen seed is
 * the cheapest of HASH_SEED_CANDIDATES random ones below 10^18 (~59.8
 * bits, see isHashSeed), so it keeps ~53.8 bits of randomness.
 *
 * makeSecretWork replicates rapidhash_make_secret step for step and counts
 * the 64-bit modulo operations of its mul_mod, the work that varies with
 * the seed; its secrets are checked against the C code's and the real
 * binaries' in test/sendmail-snapshot/hash-seed.test.ts. Pure but for the
 * random bytes (node:crypto unless given); throws nothing.
 */
import { randomBytes } from 'node:crypto';

const MASK64 = (1n << 64n) - 1n;
/** rapidhash's default secret words, which wyrand steps with. */
const WY0 = 0x2d358dccaa6c78a5n;
const WY1 = 0x8bb84b93962eacc9n;
/** The 70 bytes with exactly four bits set, in order (secret.h's `c`). */
const BALANCED_BYTES: readonly bigint[] = Array.from({ length: 256 }, (_, b) => b)
  .filter((b) => b.toString(2).replace(/0/g, '').length === 4)
  .map(BigInt);
/** The bases of is_prime's strong-probable-prime rounds, in order. */
const SPRP_BASES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n] as const;


export interface SecretWork {
  /** The three secret words V8 derives from the seed. */
  secrets: [bigint, bigint, bigint];
  /** Candidates drawn (eight wyrand steps each). */
  candidates: number;
  /** Strong-probable-prime rounds run (calls of secret.h's sprp). */
  sprpRounds: number;
  /** 64-bit `%` operations in mul_mod: the cost that varies with the seed. */
  modulos: number;
}

const OVER_BUDGET = Symbol('over budget');

function popcount64(x: bigint): number {
  let n = 0;
  for (let v = x; v !== 0n; v &= v - 1n) n++;
  return n;
}

/**
 * rapidhash_make_secret(seed) as secret.h runs it, with its work counted.
 * mul_mod(a, b, m) computes a*b mod m by shift-and-add over b's bits,
 * with one `%` per set bit and one per doubling after the first bit; the
 * product itself is computed directly here (the result is the same).
 */
export function makeSecretWork(seedIn: bigint): SecretWork {
  return searchSecrets(seedIn, Infinity)!;
}

/** makeSecretWork, given up (null) as soon as its modulo operations pass `budget`. */
function searchSecrets(seedIn: bigint, budget: number): SecretWork | null {
  let seed = seedIn & MASK64;
  let modulos = 0;
  let sprpRounds = 0;
  let candidates = 0;

  const wyrand = (): bigint => {
    seed = (seed + WY0) & MASK64;
    const product = seed * (seed ^ WY1);
    return (product & MASK64) ^ (product >> 64n);
  };
  const mulMod = (a: bigint, b: bigint, m: bigint): bigint => {
    if (b !== 0n) {
      const bits = b.toString(2);
      modulos += bits.replace(/0/g, '').length + bits.length - 1;
      if (modulos > budget) throw OVER_BUDGET;
    }
    return (a * b) % m;
  };
  const powMod = (aIn: bigint, bIn: bigint, m: bigint): bigint => {
    let r = 1n;
    let a = aIn;
    let b = bIn;
    while (b !== 0n) {
      if ((b & 1n) !== 0n) r = mulMod(r, a, m);
      b >>= 1n;
      if (b !== 0n) a = mulMod(a, a, m);
    }
    return r;
  };
  const sprp = (n: bigint, a: bigint): boolean => {
    sprpRounds++;
    let d = n - 1n;
    let s = 0;
    while ((d & 1n) === 0n) {
      d >>= 1n;
      s++;
    }
    let b = powMod(a, d, n);
    if (b === 1n || b === n - 1n) return true;
    for (let r = 1; r < s; r++) {
      b = mulMod(b, b, n);
      if (b <= 1n) return false;
      if (b === n - 1n) return true;
    }
    return false;
  };
  const isPrime = (n: bigint): boolean => {
    if (n < 2n || (n & 1n) === 0n) return false;
    if (n < 4n) return true;
    if (!sprp(n, 2n)) return false;
    if (n < 2047n) return true;
    for (const base of SPRP_BASES.slice(1)) if (!sprp(n, base)) return false;
    return true;
  };

  const secrets: bigint[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      for (;;) {
        candidates++;
        let word = 0n;
        for (let j = 0n; j < 64n; j += 8n) word |= BALANCED_BYTES[Number(wyrand() % 70n)]! << j;
        if ((word & 1n) === 0n) continue;
        if (secrets.some((other) => popcount64(other ^ word) !== 32)) continue;
        if (!isPrime(word)) continue;
        secrets.push(word);
        break;
      }
    }
  } catch (err) {
    if (err === OVER_BUDGET) return null;
    throw err;
  }
  return { secrets: secrets as [bigint, bigint, bigint], candidates, sprpRounds, modulos };
}

/** How many random seeds chooseHashSeed compares (2^6: costs ~6 of the seed's ~59.8 random bits). */
export const HASH_SEED_CANDIDATES = 64;

/** Seeds are drawn below this (see isHashSeed). */
const SEED_LIMIT = 10n ** 18n;

/**
 * Whether `text` is a seed we pass to V8: 1 to 18 decimal digits, no
 * leading zero (bin/bulkmailer-sendmail's seed_flags checks the same).
 * The flag is a uint64, but V8 parses it as a signed 64-bit number: above
 * 2^63-1 it prints an error and runs on with seed 0, which means a random
 * seed, as 0 itself does. Below 10^18 keeps clear of both with a rule the
 * shell can check.
 */
export function isHashSeed(text: string): boolean {
  return /^[1-9][0-9]{0,17}$/.test(text);
}

/** Whether `text` is a seed token: a seed, and `n` after it when the blob runs without rehashing. */
export function isSeedToken(text: string): boolean {
  return isHashSeed(text.endsWith('n') ? text.slice(0, -1) : text);
}

/** The token for `seed`, run with (`rehash`) or without rehashing the blob. */
export function seedToken(seed: string, rehash: boolean): string {
  return rehash ? seed : `${seed}n`;
}

/** The V8 flags a blob is run with, from its seed token (which isSeedToken accepts). */
export function seedTokenFlags(token: string): string[] {
  return token.endsWith('n') ? [`--hash-seed=${token.slice(0, -1)}`, '--no-rehash-snapshot'] : [`--hash-seed=${token}`];
}

/**
 * Whether a blob's bytes hold the string-hash secrets of `seed` (V8's
 * read-only roots keep them as three little-endian 64-bit words). A blob
 * whose builder did not rehash (built with --no-rehash-snapshot, or a Node
 * build that does not rehash during --build-snapshot) holds the secrets of
 * Node's own built-in snapshot instead, shared by every copy of that Node:
 * such a blob must not run without rehashing (./build.ts, runTokenFor).
 */
export function holdsSecretsOf(blob: Buffer, seed: string): boolean {
  return makeSecretWork(BigInt(seed)).secrets.every((secret) => {
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(secret);
    return blob.includes(word);
  });
}

/** The V8 flags a blob with this seed is built with. */
export function hashSeedBuildFlags(seed: string): string[] {
  return [`--hash-seed=${seed}`];
}

/** A uniformly random seed from 1 to 10^18-1 (60 random bits, drawn again when out of range). */
function randomSeed(random: (bytes: number) => Buffer): bigint {
  for (;;) {
    const seed = random(8).readBigUInt64LE(0) >> 4n;
    if (seed !== 0n && seed < SEED_LIMIT) return seed;
  }
}

/**
 * The seed for a new blob: of `candidates` random seeds, the one whose
 * secret search does the fewest modulo operations. Decimal, for the flag.
 */
export function chooseHashSeed(candidates = HASH_SEED_CANDIDATES, random: (bytes: number) => Buffer = randomBytes): string {
  let best: { seed: bigint; modulos: number } | null = null;
  for (let i = 0; i < Math.max(1, candidates); i++) {
    const seed = randomSeed(random);
    // Counted only up to the best so far: most candidates are given up early.
    const work = searchSecrets(seed, best?.modulos ?? Infinity);
    if (work !== null && (best === null || work.modulos < best.modulos)) best = { seed, modulos: work.modulos };
  }
  return best!.seed.toString();
}
