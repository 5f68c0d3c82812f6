/**
 * Queue ids: sortable by creation time, unique across processes, safe as
 * file names, short enough to type.
 *
 * Layout: 9 base36 digits of milliseconds since the epoch (fixed width, so
 * string order is time order until the year 5188) followed by 8 characters
 * of crypto randomness (40 bits) in a base32 alphabet. Two processes that
 * enqueue in the same millisecond collide with probability 2^-40; the spool
 * also creates its temp files exclusively, so a collision fails loudly
 * instead of overwriting.
 *
 * The bucket is derived from the random part, not the time, so entries
 * created in a burst still spread over all buckets.
 *
 * The random bytes come from a pool refilled RANDOM_POOL_BYTES at a time,
 * as Node's own randomUUID does: one call into OpenSSL per id cost the
 * listener ~15-20 us of its main thread per message (with a getpid(2):
 * OpenSSL's fork check), its caches cold between messages, where a refill
 * every ~80 ids costs about what one call did. Ids are not secrets (they
 * are file names and are told to clients), only unpredictable enough not
 * to collide. A pool captured in the sendmail command's start-up snapshot
 * would give every run the same bytes: snapshot-entry.ts empties it with
 * forgetRandomPool() before the image is written.
 */
import { randomFillSync } from 'node:crypto';

const TIME_DIGITS = 9;
const RANDOM_CHARS = 8;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const QUEUE_ID_LENGTH = TIME_DIGITS + RANDOM_CHARS;
const QUEUE_ID_PATTERN = /^[0-9a-z]{9}[a-z2-7]{8}$/;

/** Number of spool buckets; a power of two, named by one hex digit. */
export const BUCKET_COUNT = 16;

/** Refilled whole: 128 draws of 8 bytes, ~85 ids in a given bucket (a draw is accepted with p = 2/3 on average). */
const RANDOM_POOL_BYTES = 1024;
let pool: Buffer | null = null;
/** Bytes of `pool` already used; a refill starts it at 0 again. */
let poolUsed = RANDOM_POOL_BYTES;

/** The offset in `pool` of RANDOM_CHARS bytes never handed out before. */
function drawRandom(): number {
  if (poolUsed + RANDOM_CHARS > RANDOM_POOL_BYTES) {
    pool ??= Buffer.allocUnsafe(RANDOM_POOL_BYTES);
    randomFillSync(pool);
    poolUsed = 0;
  }
  const at = poolUsed;
  poolUsed += RANDOM_CHARS;
  return at;
}

/** Drops the pool's bytes: the next id refills it (for the start-up snapshot, see above). */
export function forgetRandomPool(): void {
  pool = null;
  poolUsed = RANDOM_POOL_BYTES;
}

/** Base32 characters by their code's residue mod 16 (one to three each): the last characters that complete a bucket. */
const LAST_BY_RESIDUE: readonly string[][] = Array.from({ length: BUCKET_COUNT }, (_, residue) =>
  [...BASE32].filter((char) => char.charCodeAt(0) % BUCKET_COUNT === residue),
);

/**
 * The random part of an id in `bucket` (0-15) from the 8 bytes at `at`, or
 * null to draw again. The first 7 bytes give 7 characters; the 8th, u,
 * accepts them with probability k/3, where k (1 to 3) characters complete
 * the bucket after them, and then picks one of those k (u % 3 is uniform
 * given acceptance; u = 255 is refused so that it is). Every 8-character
 * string of the bucket is thus equally likely: the same distribution as
 * drawing whole strings until one falls in the bucket, in 1.5 draws on
 * average instead of 16, each of which built a string and hashed it.
 */
export function randomPartInBucket(bytes: Uint8Array, at: number, bucket: number): string | null {
  let random = '';
  let hash = 0;
  for (let i = at; i < at + RANDOM_CHARS - 1; i++) {
    const char = BASE32[bytes[i]! & 31]!;
    random += char;
    hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  }
  const u = bytes[at + RANDOM_CHARS - 1]!;
  if (u === 255) return null;
  // bucketOf: ((hash * 31 + code) >>> 0) % 16, and 16 divides 2^32, so the last code needs this residue.
  const residue = (((bucket - ((hash * 31) % BUCKET_COUNT)) % BUCKET_COUNT) + BUCKET_COUNT) % BUCKET_COUNT;
  const last = LAST_BY_RESIDUE[residue]!;
  const pick = u % 3;
  return pick < last.length ? random + last[pick] : null;
}

/** A new id; with `bucket`, one whose bucket is that one (still uniform over the ids of that bucket). */
export function newQueueId(now: number = Date.now(), bucket?: string): string {
  const time = now.toString(36).padStart(TIME_DIGITS, '0');
  if (bucket === undefined) {
    const at = drawRandom();
    let random = '';
    for (let i = at; i < at + RANDOM_CHARS; i++) random += BASE32[pool![i]! & 31];
    return time + random;
  }
  const target = parseInt(bucket, 16);
  for (;;) {
    const at = drawRandom();
    const random = randomPartInBucket(pool!, at, target);
    if (random !== null) return time + random;
  }
}

export function isQueueId(value: string): boolean {
  return QUEUE_ID_PATTERN.test(value);
}

/** The creation time encoded in an id (milliseconds since the epoch). */
export function queueIdTime(id: string): number {
  return parseInt(id.slice(0, TIME_DIGITS), 36);
}

/** One hex digit, from a small hash of the random part of the id. */
export function bucketOf(id: string): string {
  let hash = 0;
  for (let i = TIME_DIGITS; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return (hash % BUCKET_COUNT).toString(16);
}

export function allBuckets(): string[] {
  return Array.from({ length: BUCKET_COUNT }, (_, i) => i.toString(16));
}
