/**
 * src/spool/crc32.ts: the CRC-32 repair checks a message with before it
 * completes an interrupted commit. Known vectors, gzip's own CRC (the
 * trailer of zlib.gzipSync, on every Node we support) over lengths that
 * cross the 8-byte steps, and the incremental form over any split.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { crc32 } from '../../src/spool/crc32.js';

/** The CRC-32 gzip stores in its trailer (RFC 1952: CRC32, then ISIZE, little-endian). */
function gzipCrc(data: Uint8Array): number {
  const gz = gzipSync(data, { level: 0 });
  return gz.readUInt32LE(gz.length - 8);
}

test('known vectors', () => {
  const vectors: [string, number][] = [
    ['', 0x0000_0000],
    ['a', 0xe8b7_be43],
    ['abc', 0x3524_41c2],
    ['message digest', 0x2015_9d7f],
    ['123456789', 0xcbf4_3926], // the check value of CRC-32/ISO-HDLC
    ['The quick brown fox jumps over the lazy dog', 0x414f_a339],
  ];
  for (const [text, expected] of vectors) assert.equal(crc32(Buffer.from(text)), expected, JSON.stringify(text));
  assert.equal(crc32(new Uint8Array(32)), 0x190a_55ad, '32 zero bytes');
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6c_ab0b, '32 0xff bytes');
});

test('equals gzip\'s CRC for every length around the 8-byte steps, and for large and unaligned buffers', () => {
  const data = randomBytes(70_000);
  for (let n = 0; n <= 80; n++) assert.equal(crc32(data.subarray(0, n)), gzipCrc(data.subarray(0, n)), `length ${n}`);
  for (const [start, end] of [[1, 4097], [3, 65_539], [7, 70_000], [0, 70_000]] as const) {
    const part = data.subarray(start, end);
    assert.equal(crc32(part), gzipCrc(part), `${start}..${end}`);
  }
});

test('incremental: the CRC of the chunks, continued one from the other, is the CRC of the whole, for any split', () => {
  const data = randomBytes(20_000);
  const whole = crc32(data);
  for (const sizes of [[1], [7], [8], [9], [4096], [16_384, 3], [13, 1, 8000]]) {
    let crc = 0;
    let offset = 0;
    for (let i = 0; offset < data.length; i++) {
      const size = sizes[i % sizes.length]!;
      crc = crc32(data.subarray(offset, offset + size), crc);
      offset += size;
    }
    assert.equal(crc, whole, `chunks of ${sizes.join(', ')}`);
  }
  // One changed or zeroed byte changes it (what repair relies on to find a block a crash did not write).
  const zeroed = Buffer.from(data);
  zeroed.fill(0, 12_288, 16_384);
  assert.notEqual(crc32(zeroed), whole);
});
