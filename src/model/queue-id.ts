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
 */
import { randomBytes } from 'node:crypto';

const TIME_DIGITS = 9;
const RANDOM_CHARS = 8;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const QUEUE_ID_LENGTH = TIME_DIGITS + RANDOM_CHARS;
const QUEUE_ID_PATTERN = /^[0-9a-z]{9}[a-z2-7]{8}$/;

/** Number of spool buckets; a power of two, named by one hex digit. */
export const BUCKET_COUNT = 16;

/** Candidates drawn per randomBytes call when the bucket is given (16 are needed on average). */
const CANDIDATES_PER_DRAW = 32;

/**
 * A new id; with `bucket`, one whose bucket is that one (candidates are
 * drawn until one falls in it: 16 on average, still 40 random bits each,
 * taken 32 at a time from one randomBytes call, since each call costs
 * far more than its bytes).
 */
export function newQueueId(now: number = Date.now(), bucket?: string): string {
  const time = now.toString(36).padStart(TIME_DIGITS, '0');
  for (;;) {
    const bytes = randomBytes(RANDOM_CHARS * (bucket === undefined ? 1 : CANDIDATES_PER_DRAW));
    for (let at = 0; at < bytes.length; at += RANDOM_CHARS) {
      let random = '';
      for (let i = at; i < at + RANDOM_CHARS; i++) random += BASE32[bytes[i]! & 31];
      const id = time + random;
      if (bucket === undefined || bucketOf(id) === bucket) return id;
    }
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
