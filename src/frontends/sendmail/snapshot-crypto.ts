/**
 * node:crypto as the sendmail command's start-up snapshot sees it:
 * scripts/bundle-sendmail.mjs points the snapshot script's imports of
 * node:crypto here (the plain bundle and everything else use Node's). The
 * queueing path needs a few random bytes per message (the queue id, the
 * Message-ID, the commit group's bucket), and crypto's modules made the
 * snapshot's heap ~200 KB bigger, deserialized on every message: about
 * 1 ms of CPU per message (docs/performance.md). The bytes come from
 * /dev/urandom, the kernel's generator that crypto.randomBytes (OpenSSL,
 * seeded by getrandom(2)) draws on too: an open, a read and a close per
 * call, and the queueing path makes three calls.
 *
 * Only the functions the snapshot's modules import are here (esbuild
 * fails the build on any other); createHash is Node's own, loaded at its
 * first call (making a spool's runtime lock directory, not per message).
 * Throws what fs throws (ENOENT where there is no /dev/urandom: the
 * command then reports an internal error and queues nothing).
 */
import fs from 'node:fs';
import { builtinModuleNow } from '../../builtin-module.js';
import type { Hash } from 'node:crypto';

/** `size` random bytes, as crypto.randomBytes(size). */
export function randomBytes(size: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(size));
}

/** Fills `bytes` with random bytes and returns it, as crypto.randomFillSync(bytes) (the queue id's pool). */
export function randomFillSync<T extends Uint8Array>(bytes: T): T {
  const fd = fs.openSync('/dev/urandom', fs.constants.O_RDONLY);
  try {
    for (let got = 0; got < bytes.length; ) {
      const n = fs.readSync(fd, bytes, got, bytes.length - got, null);
      if (n === 0) throw new Error('/dev/urandom gave no bytes');
      got += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

/** A uniform integer in [min, max), or [0, min) with one argument, as crypto.randomInt (a range of at most 2^32). */
export function randomInt(min: number, max?: number): number {
  const [low, high] = max === undefined ? [0, min] : [min, max];
  const range = high - low;
  if (!Number.isSafeInteger(low) || !Number.isSafeInteger(high) || range < 1 || range > 2 ** 32) {
    throw new RangeError(`randomInt: no integers in [${low}, ${high}) or a range above 2^32`);
  }
  // Values at or above the last whole multiple of range are drawn again: no modulo bias.
  const limit = 2 ** 32 - (2 ** 32 % range);
  for (;;) {
    const value = randomBytes(4).readUInt32LE(0);
    if (value < limit) return low + (value % range);
  }
}

/** Node's crypto.createHash, loaded at the first call (also inside the snapshot, where import() has no loader). */
export function createHash(algorithm: string): Hash {
  const crypto = builtinModuleNow<typeof import('node:crypto')>('node:crypto');
  if (crypto === undefined) throw new Error('node:crypto cannot be loaded here (no process.getBuiltinModule, no require)');
  return crypto.createHash(algorithm);
}
