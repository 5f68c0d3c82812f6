/**
 * Splits a message arriving as a stream into its header block and the rest,
 * reading no more than the header block (bounded by maxHeadBytes) into
 * memory. The body is handed on as the same stream, untouched, so a 20 MB
 * message costs only its header block in memory.
 *
 * Fails with a dataError (exit 65, SMTP 554) when a line before the first
 * empty line is neither a header field nor a continuation ("no header/body
 * separator"), or when the header block grows past maxHeadBytes. A message
 * that ends inside its header block is a header-only message (RFC 5322
 * allows an empty body) and is accepted as written.
 *
 * The fields' bytes are views of the input's chunks, not copies: an input
 * must not change a chunk once it has yielded it (the enqueue's gathered
 * writes hold chunks the same way; stdin-chunks.ts copies out of its read
 * buffer for that reason).
 */
import { dataError } from '../errors.js';
import { fieldNameOf, isContinuationLine, makeHeaderField, type HeaderField } from './header-fields.js';

export type MessageInput = string | Uint8Array | AsyncIterable<Uint8Array | string>;

/** 1 MiB: Postfix's header_size_limit is 100 KiB; a list post's long To: stays well inside. */
export const DEFAULT_MAX_HEAD_BYTES = 1024 * 1024;

export interface SplitOptions {
  maxHeadBytes?: number;
  /** Drop a leading mbox "From " line (as Postfix's sendmail does). */
  skipMboxFromLine?: boolean;
  /**
   * A line that is not a header field ends the header block and starts the
   * body, as in Postfix's cleanup: `echo hi | sendmail bob` is a message with
   * no header fields and the body "hi". An empty line is then inserted as the
   * separator. Off: such a line is an error (E_NO_SEPARATOR).
   */
  nonHeaderStartsBody?: boolean;
}

export interface SplitMessage {
  fields: HeaderField[];
  /** "\r\n" or "\n": the line ending of the first header line ("\n" when there is none). */
  eol: '\r\n' | '\n';
  /**
   * The empty line that ended the header block (inserted when a non-header
   * line started the body), or null for a header-only message.
   */
  separator: Buffer | null;
  /** Everything after the separator, exactly as received. Consume it once. */
  body: MessageRest;
  /** True when the header block's last line had no line ending (message ended there). */
  unterminatedLastLine: boolean;
}

/** What `buffered` starts as: one for all, as nothing ever writes into it (only a chunk replaces it). */
const NOTHING_BUFFERED = Buffer.alloc(0);

function toBuffer(chunk: Uint8Array | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
}

function chunksOf(input: MessageInput): AsyncIterator<Uint8Array | string> {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    return (async function* one() {
      yield input;
    })();
  }
  return input[Symbol.asyncIterator]();
}

function isEmptyLine(line: Buffer): boolean {
  return (line.length === 1 && line[0] === 0x0a) || (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);
}

function headTooLong(max: number) {
  return dataError(`the header block is longer than ${max} bytes (or has no empty line before the body)`, 'E_HEADER_TOO_LONG');
}

export async function splitMessageHead(input: MessageInput, options: SplitOptions = {}): Promise<SplitMessage> {
  const maxHeadBytes = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
  const chunks = chunksOf(input);
  const fields: HeaderField[] = [];
  let current: { name: string; lines: Buffer[] } | null = null;
  let eol: '\r\n' | '\n' | null = null;
  let buffered: Buffer = NOTHING_BUFFERED;
  let lineStart = 0;
  let headBytes = 0;
  let lineNumber = 0;
  let ended = false;

  const closeField = () => {
    if (current !== null) fields.push(makeHeaderField(current.name, current.lines));
    current = null;
  };

  const takeLine = (line: Buffer): 'separator' | 'line' | 'body' => {
    lineNumber++;
    if (isEmptyLine(line)) return 'separator';
    if (lineNumber === 1 && options.skipMboxFromLine && line.subarray(0, 5).toString('latin1') === 'From ') return 'line';
    if (eol === null) eol = line.length >= 2 && line[line.length - 2] === 0x0d ? '\r\n' : '\n';
    if (isContinuationLine(line) && current !== null) {
      current.lines.push(line);
      return 'line';
    }
    const name = fieldNameOf(line);
    if (name === null && options.nonHeaderStartsBody) {
      eol ??= line.length >= 2 && line[line.length - 2] === 0x0d ? '\r\n' : '\n';
      return 'body';
    }
    if (name === null) {
      const shown = JSON.stringify(line.subarray(0, 60).toString('utf8').replace(/\r?\n$/, ''));
      throw dataError(
        `line ${lineNumber} of the message is not a header field: ${shown}; a message starts with header fields, then an empty line, then the body`,
        'E_NO_SEPARATOR',
      );
    }
    closeField();
    current = { name, lines: [line] };
    return 'line';
  };

  try {
    for (;;) {
      const newline = buffered.indexOf(0x0a, lineStart);
      if (newline >= 0) {
        const line = buffered.subarray(lineStart, newline + 1);
        headBytes += line.length;
        if (headBytes > maxHeadBytes) throw headTooLong(maxHeadBytes);
        const lineBegin = lineStart;
        lineStart = newline + 1;
        const kind = takeLine(line);
        if (kind === 'body') {
          closeField();
          const inserted = eol ?? '\n';
          return { fields, eol: inserted, separator: Buffer.from(inserted), body: restOf(buffered.subarray(lineBegin), chunks), unterminatedLastLine: false };
        }
        if (kind === 'separator') {
          closeField();
          const rest = buffered.subarray(lineStart);
          return {
            fields,
            eol: eol ?? (line.length === 2 ? '\r\n' : '\n'),
            separator: line,
            body: restOf(rest, chunks),
            unterminatedLastLine: false,
          };
        }
        continue;
      }
      if (headBytes + (buffered.length - lineStart) > maxHeadBytes) throw headTooLong(maxHeadBytes);
      const next = ended ? { done: true as const, value: undefined } : await chunks.next();
      if (next.done) {
        ended = true;
        const last = buffered.subarray(lineStart);
        if (last.length > 0 && takeLine(last) === 'body') {
          closeField();
          const inserted = eol ?? '\n';
          return { fields, eol: inserted, separator: Buffer.from(inserted), body: restOf(last, null), unterminatedLastLine: false };
        }
        closeField();
        return { fields, eol: eol ?? '\n', separator: null, body: restOf(Buffer.alloc(0), null), unterminatedLastLine: last.length > 0 };
      }
      // Keep only the unscanned tail plus the new chunk: the scanned lines live in `fields`.
      // With no tail (the usual case: a chunk ends on a line's end, or it is the first) the
      // chunk itself is scanned, not a copy of it: it is only ever read.
      const chunk = toBuffer(next.value);
      buffered = lineStart === buffered.length ? chunk : Buffer.concat([buffered.subarray(lineStart), chunk]);
      lineStart = 0;
    }
  } catch (err) {
    await chunks.return?.().catch(() => {});
    throw err;
  }
}

/**
 * The message after its header block: the unscanned rest of the last chunk
 * read, then the input's remaining chunks. An iterator written out rather
 * than an async generator: each step of a generator costs more promises
 * and turns of the microtask queue, on every chunk of every message
 * (docs/performance.md, "The listener's CPU per message").
 *
 * `withHead` makes the one iterator a caller reads from it: a header block
 * first, and every chunk through a check that may refuse it
 * (prepare-message.ts: the line limit). Stopped early (return, the input
 * failing, or the check refusing a chunk), it releases the input.
 */
export class MessageRest implements AsyncIterableIterator<Buffer> {
  private held: Buffer[];
  private finished: boolean;

  constructor(
    held: Buffer[],
    private readonly chunks: AsyncIterator<Uint8Array | string> | null,
    private readonly pass: (chunk: Buffer) => Buffer = (chunk) => chunk,
  ) {
    this.held = held.filter((chunk) => chunk.length > 0);
    this.finished = chunks === null;
  }

  /** `head`, then this rest, each chunk through `pass`. This one is not to be read any more. */
  withHead(head: Buffer | null, pass: (chunk: Buffer) => Buffer): MessageRest {
    const rest = new MessageRest(head === null ? this.held : [head, ...this.held], this.finished ? null : this.chunks, pass);
    this.held = [];
    this.finished = true;
    return rest;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer, undefined>> {
    const held = this.held.shift();
    if (held !== undefined) return { value: this.passed(held), done: false };
    if (this.finished) return { value: undefined, done: true };
    let next: IteratorResult<Uint8Array | string>;
    try {
      next = await this.chunks!.next();
    } catch (err) {
      await this.release();
      throw err;
    }
    if (next.done) {
      this.finished = true;
      return { value: undefined, done: true };
    }
    return { value: this.passed(toBuffer(next.value)), done: false };
  }

  async return(): Promise<IteratorResult<Buffer, undefined>> {
    await this.release();
    return { value: undefined, done: true };
  }

  private passed(chunk: Buffer): Buffer {
    try {
      return this.pass(chunk);
    } catch (err) {
      // Released without waiting for it: the refusal is what the reader needs to hear.
      void this.release();
      throw err;
    }
  }

  private async release(): Promise<void> {
    this.held = [];
    if (this.finished) return;
    this.finished = true;
    await this.chunks?.return?.().catch(() => {});
  }
}

function restOf(leftover: Buffer, chunks: AsyncIterator<Uint8Array | string> | null): MessageRest {
  return new MessageRest([leftover], chunks);
}
