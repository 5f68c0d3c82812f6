/**
 * What a smarthost will take, decided at intake: a message accepted with
 * exit 0 (or 250) must not bounce later for something visible in its bytes.
 *
 *   - a NUL byte: SMTP (RFC 5321 4.5.2 via RFC 5322 2.3) has no way to carry
 *     it; the message is refused (E_NUL_BYTE, exit 65 / 554), as nothing
 *     safe can replace it without guessing what the sender meant;
 *   - a line longer than 998 octets (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6):
 *     broken by inserting the message's line ending and a space, exactly as
 *     Postfix's SMTP client does at smtp_line_length_limit = 998 ("to
 *     minimize the damage to MIME formatted mail"). In a header the break is
 *     a folding point; in a body it adds one space. See docs/frontends.md.
 *
 * We break at intake, not at delivery as Postfix does, because the spool only
 * ever delivers over SMTP: the stored bytes are then the bytes sent, the
 * SIZE we announce is exact, and delivery stays a plain copy. A break never
 * splits a UTF-8 sequence. Streaming: memory stays one chunk.
 */
import { dataError } from '../errors.js';

/** Octets per line, not counting its CRLF (RFC 5322 2.1.1). */
export const SMTP_LINE_LIMIT = 998;

const LF = 0x0a;
const CR = 0x0d;

/** Length of the UTF-8 sequence a lead byte starts (1 for ASCII and stray bytes). */
function sequenceLength(byte: number): number {
  if (byte >= 0xf0 && byte <= 0xf7) return 4;
  if (byte >= 0xe0) return byte <= 0xef ? 3 : 1;
  if (byte >= 0xc0) return 2;
  return 1;
}

/**
 * The limit applied chunk by chunk, synchronously: `pass` returns the chunk
 * with its long lines broken (the chunk itself when none is) and throws
 * E_NUL_BYTE (exit 65) on a NUL byte. Lines may span chunks. One per
 * message; `eol` is the message's own line ending.
 */
export class LineLengthLimiter {
  private readonly fold: Buffer;
  private column = 0; // octets on the current line so far
  private offset = 0; // octets seen before this chunk, for the error message

  constructor(
    eol: '\r\n' | '\n',
    private readonly limit = SMTP_LINE_LIMIT,
  ) {
    this.fold = Buffer.from(`${eol} `);
  }

  pass(chunk: Buffer): Buffer {
    const nul = chunk.indexOf(0);
    if (nul >= 0) {
      throw dataError(
        `the message contains a NUL byte (at octet ${this.offset + nul}), which SMTP cannot carry: encode binary content (base64)`,
        'E_NUL_BYTE',
      );
    }
    this.offset += chunk.length;
    const limit = this.limit;
    // Fast path: no line in this chunk reaches the limit.
    if (fitsWithoutBreak(chunk, this.column, limit)) {
      const lastLf = chunk.lastIndexOf(LF);
      this.column = lastLf < 0 ? this.column + chunk.length : chunk.length - lastLf - 1;
      return chunk;
    }
    const out: Buffer[] = [];
    let column = this.column;
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (byte === LF) {
        column = 0;
        continue;
      }
      // A CR may end the line at the limit (CRLF). A UTF-8 lead byte needs
      // room for its whole sequence, so its continuation bytes always fit
      // (a stray one past the limit breaks like any other byte).
      const continuation = byte >= 0x80 && byte < 0xc0;
      const overflow =
        byte === CR ? column > limit : continuation ? column >= limit : column + sequenceLength(byte) > limit;
      if (overflow) {
        out.push(chunk.subarray(start, i), this.fold);
        start = i;
        column = 1; // the space
      }
      column++;
    }
    this.column = column;
    out.push(chunk.subarray(start));
    return Buffer.concat(out);
  }
}

/** True when no line of `chunk`, continuing a line of `column` octets, exceeds `limit`. */
function fitsWithoutBreak(chunk: Buffer, column: number, limit: number): boolean {
  let lineStart = 0;
  let col = column;
  for (;;) {
    const lf = chunk.indexOf(LF, lineStart);
    const end = lf < 0 ? chunk.length : lf;
    // Count a CR before the LF as the line ending, not as content.
    const content = end - lineStart - (lf >= 0 && end > lineStart && chunk[end - 1] === CR ? 1 : 0);
    // Within 3 octets of the limit a UTF-8 sequence may not fit: decide byte by byte.
    if (col + content > limit - 3) return false;
    if (lf < 0) return true;
    lineStart = lf + 1;
    col = 0;
  }
}
