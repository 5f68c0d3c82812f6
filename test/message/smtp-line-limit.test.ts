/**
 * LineLengthLimiter: lines over 998 octets broken (eol + space) wherever chunk
 * boundaries fall, never inside a UTF-8 sequence, lines of exactly 998 left
 * alone; a NUL refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineLengthLimiter } from '../../src/message/smtp-line-limit.js';
import { BulkmailerError } from '../../src/errors.js';

async function run(input: Buffer, eol: '\r\n' | '\n', chunkSize: number): Promise<Buffer> {
  const limiter = new LineLengthLimiter(eol);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) out.push(limiter.pass(input.subarray(i, i + chunkSize)));
  return Buffer.concat(out);
}

test('breaks only lines over 998 octets, at any chunking, never inside a UTF-8 sequence', async () => {
  const exact = 'a'.repeat(998);
  const input = Buffer.from(`${exact}\r\n${'é'.repeat(700)}\r\n${'z'.repeat(997)}é\r\n${'q'.repeat(3000)}\r\nend`, 'utf8');
  const whole = await run(input, '\r\n', input.length);
  for (const size of [1, 2, 3, 7, 997, 998, 999, 4096]) assert.deepEqual(await run(input, '\r\n', size), whole, `chunks of ${size}`);
  const lines = whole.toString('latin1').split('\r\n');
  assert.ok(lines.every((l) => l.length <= 998));
  assert.equal(lines[0], exact, 'a line of exactly 998 octets stays whole');
  assert.ok(!whole.toString('utf8').includes('\uFFFD'));
  assert.deepEqual(whole.toString('utf8').replaceAll('\r\n ', ''), input.toString('utf8'));
});

test('bare LF messages get bare LF breaks; a NUL is E_NUL_BYTE (exit 65)', async () => {
  const out = await run(Buffer.from(`${'x'.repeat(2000)}\n`), '\n', 64);
  assert.deepEqual(out.toString().split('\n').map((l) => l.length), [998, 998, 6, 0]);
  await assert.rejects(run(Buffer.from('a\0b'), '\n', 1), (err: unknown) => err instanceof BulkmailerError && err.code === 'E_NUL_BYTE' && err.exitCode === 65);
});
