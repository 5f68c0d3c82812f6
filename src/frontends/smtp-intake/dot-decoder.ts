/**
 * The DATA part of an SMTP transaction, decoded as it arrives (RFC 5321
 * 4.5.2): a line that starts with "." loses that dot, and the data ends at
 * the line "." alone, i.e. at <CRLF>.<CRLF> (or "." CRLF right after the
 * 354). Only CRLF ends a line: a bare LF or a bare CR followed by "." is
 * message text, never the end (the SMTP smuggling of 2023 hid a second
 * message behind "\n.\n" for servers that ended DATA there), and no dot is
 * removed after one. Bare LF and bare CR are passed through unchanged.
 *
 * The message handed on is every byte up to and including the CRLF before
 * the final dot, as smtp-server gave it. Pieces are views into the chunks
 * fed in (socket reads, never written again), so nothing is copied except
 * the one or two bytes of a "." or ".\r" left at the end of a read, which
 * wait for the next read to decide (joined to it with Buffer.concat).
 *
 * Pure state over the chunks fed in; never fails.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export class DotDecoder {
  /** At the start of a line (after CRLF, or at the start of the data). */
  private lineStart = true;
  /** The last byte fed in was CR (inside a line). */
  private lastWasCr = false;
  /** "." or ".\r" at a line start, cut by the end of a read. */
  private carry: Buffer | null = null;
  /** Message bytes passed on since start() (after unstuffing). */
  bytes = 0;

  /** A new message (after DATA's 354): counts from 0. */
  start(): void {
    this.bytes = 0;
  }

  /**
   * Decodes `input`, handing each piece of message text to `emit` in order.
   * Returns undefined while the data goes on; at the end of the data, the
   * bytes of `input` after it (the client's next commands, maybe empty).
   * After the end the decoder is ready for the next message (call start()).
   */
  feed(input: Buffer, emit: (piece: Buffer) => void): Buffer | undefined {
    let chunk = input;
    if (this.carry !== null) {
      chunk = Buffer.concat([this.carry, input]);
      this.carry = null;
    }
    const length = chunk.length;
    let pos = 0;
    let from = 0;
    while (pos < length) {
      if (this.lineStart) {
        if (chunk[pos] === DOT) {
          const next = pos + 1 < length ? chunk[pos + 1] : -1;
          const after = pos + 2 < length ? chunk[pos + 2] : -1;
          if (next === -1 || (next === CR && after === -1)) {
            // Cannot tell yet whether this is the end: keep the line's start for the next read.
            this.pass(chunk, from, pos, emit);
            this.carry = chunk.subarray(pos);
            return undefined;
          }
          if (next === CR && after === LF) {
            this.pass(chunk, from, pos, emit);
            this.lineStart = true;
            this.lastWasCr = false;
            return chunk.subarray(pos + 3);
          }
          // The dot a client adds before a line starting with "." (or, rarer, a lone leading one): removed.
          this.pass(chunk, from, pos, emit);
          pos += 1;
          from = pos;
        }
        this.lineStart = false;
        if (pos >= length) break;
      }
      const lf = chunk.indexOf(LF, pos);
      if (lf < 0) {
        pos = length;
        break;
      }
      this.lineStart = lf > 0 ? chunk[lf - 1] === CR : this.lastWasCr;
      pos = lf + 1;
    }
    this.lastWasCr = length > 0 && chunk[length - 1] === CR;
    this.pass(chunk, from, length, emit);
    return undefined;
  }

  private pass(chunk: Buffer, from: number, to: number, emit: (piece: Buffer) => void): void {
    if (to <= from) return;
    this.bytes += to - from;
    emit(chunk.subarray(from, to));
  }
}
