/**
 * sendmail's classic end of input: without -i (or -oi), a line holding only
 * "." ends the message; that line and anything after it are not part of the
 * message (stdin is not read further). Streams chunk by chunk, holding back
 * at most the two bytes that might start such a line across a chunk boundary.
 * No dot-unstuffing: "..x" stays "..x", as in sendmail's -bm mode.
 */

const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
}

export async function* untilLoneDot(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<Buffer> {
  let atLineStart = true;
  let held = Buffer.alloc(0);
  for await (const chunk of source) {
    const buf = held.length > 0 ? Buffer.concat([held, toBuffer(chunk)]) : toBuffer(chunk);
    held = Buffer.alloc(0);
    let i = 0;
    let ended = false;
    while (i < buf.length) {
      if (atLineStart && buf[i] === DOT) {
        const after = buf[i + 1];
        const afterThat = buf[i + 2];
        if (after === LF || (after === CR && afterThat === LF)) {
          ended = true;
          break;
        }
        if (after === undefined || (after === CR && afterThat === undefined)) {
          // Undecided until the next chunk: hold ".", or ".\r", back.
          held = Buffer.from(buf.subarray(i));
          break;
        }
      }
      const newline = buf.indexOf(LF, i);
      if (newline < 0) {
        atLineStart = false;
        i = buf.length;
        break;
      }
      i = newline + 1;
      atLineStart = true;
    }
    const end = ended || held.length > 0 ? i : buf.length;
    if (end > 0) yield buf.subarray(0, end);
    if (ended) return;
  }
  // A lone "." (or ".\r") as the very last line, without a line ending, also ends the message.
}
