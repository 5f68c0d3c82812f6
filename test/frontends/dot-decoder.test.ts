/**
 * The DATA decoder of the intake (src/frontends/smtp-intake/dot-decoder.ts)
 * as a pure function of its input: dot-unstuffing, the end only at
 * <CRLF>.<CRLF>, bare LF and bare CR kept as text, and the same answer
 * however the input is cut into reads (every single cut point, and byte by
 * byte).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DotDecoder } from '../../src/frontends/smtp-intake/dot-decoder.js';

/** Feeds `reads` in order; the message and what followed the end (null when it did not end). */
function decode(reads: Buffer[], decoder = new DotDecoder()): { message: string; rest: string | null; bytes: number } {
  decoder.start();
  const pieces: Buffer[] = [];
  for (const [i, read] of reads.entries()) {
    const rest = decoder.feed(read, (piece) => pieces.push(piece));
    if (rest !== undefined) {
      // The bytes after the end: the rest of this read and the reads after it.
      const after = Buffer.concat([rest, ...reads.slice(i + 1)]);
      return { message: Buffer.concat(pieces).toString('latin1'), rest: after.toString('latin1'), bytes: decoder.bytes };
    }
  }
  return { message: Buffer.concat(pieces).toString('latin1'), rest: null, bytes: decoder.bytes };
}

/** Every way of cutting `wire` into two reads, and byte by byte: all must agree with one read. */
function decodeEveryWay(wire: string): { message: string; rest: string | null } {
  const whole = Buffer.from(wire, 'latin1');
  const once = decode([whole]);
  for (let cut = 0; cut <= whole.length; cut++) {
    const split = decode([whole.subarray(0, cut), whole.subarray(cut)]);
    assert.deepEqual(split, once, `cut at ${cut} of ${JSON.stringify(wire)}`);
  }
  const bytewise = decode([...whole].map((byte) => Buffer.from([byte])));
  assert.deepEqual(bytewise, once, `byte by byte: ${JSON.stringify(wire)}`);
  assert.equal(once.bytes, Buffer.byteLength(once.message, 'latin1'));
  return { message: once.message, rest: once.rest };
}

test('ends at CRLF.CRLF; the message keeps the CRLF before the dot; the rest is the next commands', () => {
  assert.deepEqual(decodeEveryWay('Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n'), {
    message: 'Subject: a\r\n\r\nbody\r\n',
    rest: 'QUIT\r\n',
  });
  // An empty message: the dot right after the 354.
  assert.deepEqual(decodeEveryWay('.\r\nNOOP\r\n'), { message: '', rest: 'NOOP\r\n' });
});

test('removes the dot a client adds before a line starting with a dot (and a lone leading one, RFC 5321 4.5.2)', () => {
  assert.deepEqual(decodeEveryWay('..leading dot\r\n...two dots\r\n.x\r\n..\r\n.\r\n'), {
    message: '.leading dot\r\n..two dots\r\nx\r\n.\r\n',
    rest: '',
  });
  assert.deepEqual(decodeEveryWay('..\r\n.\r\n'), { message: '.\r\n', rest: '' });
});

test('a bare LF or a bare CR never ends the data and never starts a line: the smuggling defence', () => {
  const smuggled = 'Subject: a\r\n\r\nhi\n.\nMAIL FROM:<evil@example.org>\n';
  // "\n.\r\n" is text: the data has not ended, everything so far is message.
  assert.deepEqual(decodeEveryWay(`${smuggled}.\r\n`), { message: `${smuggled}.\r\n`, rest: null });
  assert.deepEqual(decodeEveryWay(`${smuggled}.\r\n\r\n.\r\n`), { message: `${smuggled}.\r\n\r\n`, rest: '' });
  // [wire, message]: none of these ends before the last CRLF.CRLF. A dot after CRLF that is
  // followed by a bare LF or CR starts a line with other characters on it, so it is removed.
  const cases: Array<[string, string]> = [
    ['a\n.\r\nb\r\n.\r\n', 'a\n.\r\nb\r\n'],
    ['a\r.\r\nb\r\n.\r\n', 'a\r.\r\nb\r\n'],
    ['a\r\n.\nb\r\n.\r\n', 'a\r\n\nb\r\n'],
    ['a\r\n.\rb\r\n.\r\n', 'a\r\n\rb\r\n'],
  ];
  for (const [wire, message] of cases) assert.deepEqual(decodeEveryWay(wire), { message, rest: '' }, JSON.stringify(wire));
  // No dot is removed after a bare LF: "\n..x" stays as it is.
  assert.deepEqual(decodeEveryWay('a\n..x\r\n.\r\n'), { message: 'a\n..x\r\n', rest: '' });
});

test('without the final dot the data goes on, whatever was fed', () => {
  assert.equal(decodeEveryWay('no end\r\n.').rest, null);
  assert.equal(decodeEveryWay('no end\r\n.\r').rest, null);
  assert.equal(decodeEveryWay('no end\r\n').rest, null);
});

test('after the end the decoder takes the next message from a fresh start', () => {
  const decoder = new DotDecoder();
  assert.deepEqual(decode([Buffer.from('one\r\n.\r\n')], decoder), { message: 'one\r\n', rest: '', bytes: 5 });
  assert.deepEqual(decode([Buffer.from('.\r\n')], decoder), { message: '', rest: '', bytes: 0 });
  assert.deepEqual(decode([Buffer.from('..two\r\n.\r\n')], decoder), { message: '.two\r\n', rest: '', bytes: 6 });
});
