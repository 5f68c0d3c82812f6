/**
 * The V8 hash seed the sendmail command's start-up snapshots are built and
 * run with (`--hash-seed=<seed> --no-rehash-snapshot`): drawn per build
 * from crypto randomness (scripts/bundle-sendmail.mjs for dist's blob,
 * ./build.ts for a per-user one), and recorded beside the blob for the
 * launcher (./cache.ts).
 *
 * Why a seed at all: Node starts every isolate with a random seed, from
 * which V8 searches for its string-hash secrets (three 64-bit primes, a
 * Miller-Rabin search: ~10% of a start from a user snapshot) and then
 * rehashes the snapshot's tables for them. A blob run with
 * --no-rehash-snapshot keeps the seed and secrets it was built with and
 * does neither; Node 20 loads it only with the flags it was built with
 * (a hash of the flags is in the blob: exit 14 otherwise), hence the seed
 * on both command lines. Node 22 and 24 do not compare the flags and load
 * it with any seed, which is harmless: without the rehash, V8 hashes with
 * the blob's own secrets, not the flag's. Measured in docs/performance.md
 * ("V8's hash seed for the sendmail command's snapshot").
 *
 * Why random per build, not a constant of ours: the seed keys V8's hash
 * tables (property names, JSON objects, Maps); a seed published in our
 * source would let anyone craft input whose keys all collide (HashDoS).
 * It need not be cheap for V8's secret search (bench/hash-seed-work.ts
 * replicates it): that search does not run for a blob that is not
 * rehashed, whatever its seed.
 *
 * Pure but for the random bytes; throws nothing.
 */
import { randomBytes } from 'node:crypto';

/** Seeds are drawn below this (see isHashSeed). */
const SEED_LIMIT = 10n ** 18n;

/** The V8 flags a blob with this seed is built with and must run with. */
export function hashSeedFlags(seed: string): string[] {
  return [`--hash-seed=${seed}`, '--no-rehash-snapshot'];
}

/**
 * Whether `text` is a seed we pass to V8: 1 to 18 decimal digits, no
 * leading zero (bin/bulkmailer-sendmail's valid_seed checks the same).
 * The flag is a uint64, but V8 parses it as a signed 64-bit number: above
 * 2^63-1 it prints an error and runs on with seed 0, which means a random
 * seed, as 0 itself does. Below 10^18 keeps clear of both with a rule the
 * shell can check, and leaves ~59.8 random bits.
 */
export function isHashSeed(text: string): boolean {
  return /^[1-9][0-9]{0,17}$/.test(text);
}

/** A uniformly random seed from 1 to 10^18-1 (60 random bits, drawn again when out of range), in decimal. */
export function randomHashSeed(random: (bytes: number) => Buffer = randomBytes): string {
  for (;;) {
    const seed = random(8).readBigUInt64LE(0) >> 4n;
    if (seed !== 0n && seed < SEED_LIMIT) return seed.toString();
  }
}
