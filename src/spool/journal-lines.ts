/**
 * The one reader of a transaction journal's lines (transaction-journal.ts
 * writes them), for both of its readers: recovery (journal-recovery.ts),
 * which parses every line, and the queue's readers (journal-done-lines.ts),
 * which pick out the done lines. The file is read a chunk at a time
 * (64 KiB), so reading it costs the memory of a chunk and of the longest
 * line kept, never the file's: a large drain's journal holds a line per
 * transaction (26 MB for 100,000 entries of five recipients).
 *
 * What a line is, for every reader: it ends at its newline; its content
 * ends at its first NUL (the preallocated zeros after the last line); an
 * empty content is no line; a last line without its newline counts, as
 * whole as it is (a line torn by a power cut then fails to parse, and its
 * reader skips it). `keep` bounds the bytes of content kept per line: the
 * done-line reader needs only the first bytes to tell a done line, while
 * `length` still says how long the content was.
 *
 * Failures: opening (a link is not followed) and reading throw the file
 * system's error; the caller says what it was reading.
 */
import fs from 'node:fs';
import { READ_NOFOLLOW } from './durable-fs.js';

/** Bytes read at a time: the only buffer that grows with nothing. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;

const NEWLINE = 0x0a;
const NUL = 0x00;

/**
 * One line, as the reader yields it: the same object each time, its
 * buffer reused, so it is valid only until the next line is asked for.
 */
export interface JournalLine {
  /** The content's first `kept` bytes, from offset 0. */
  readonly bytes: Buffer;
  /** How many bytes of `bytes` are the line's: min(length, keep). */
  kept: number;
  /** The content's length, up to the first NUL. */
  length: number;
}

export interface JournalLineOptions {
  /** Bytes read at a time (the tests cut lines at every boundary with small ones). */
  chunkBytes?: number;
  /** Bytes of each line's content kept (default: all of it). */
  keep?: number;
}

/**
 * Each non-empty line of a journal file, read `chunkBytes` at a time. A
 * generator, so that recovery can await its entries' updates between
 * lines; the file stays open until the iteration ends (a `for...of` that
 * breaks or throws closes it).
 */
export function* journalLines(file: string, options: JournalLineOptions = {}): Generator<JournalLine, void, undefined> {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const keep = options.keep ?? Infinity;
  const fd = fs.openSync(file, READ_NOFOLLOW);
  try {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    const line = { bytes: Buffer.allocUnsafe(Math.min(keep, 1024)), kept: 0, length: 0 };
    /** A NUL was met in this line: the rest of it up to its newline is not content. */
    let ended = false;
    let position = 0;
    for (;;) {
      const read = fs.readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) break;
      position += read;
      const bytes = read === chunk.length ? chunk : chunk.subarray(0, read);
      // The chunk's next NUL at or after the current line's start (-1: none): searched again only once
      // passed, so a chunk is scanned for NULs once, not once per line.
      let nul = bytes.indexOf(NUL);
      let start = 0;
      while (start < read) {
        const newline = bytes.indexOf(NEWLINE, start);
        const end = newline < 0 ? read : newline;
        if (!ended) {
          if (nul >= 0 && nul < start) nul = bytes.indexOf(NUL, start);
          const contentEnd = nul >= 0 && nul < end ? nul : end;
          if (contentEnd < end) ended = true;
          const wanted = Math.min(keep, line.length + (contentEnd - start)) - line.kept;
          if (wanted > 0) {
            if (line.kept + wanted > line.bytes.length) {
              const grown = Buffer.allocUnsafe(Math.min(keep, Math.max(line.bytes.length * 2, line.kept + wanted)));
              line.bytes.copy(grown, 0, 0, line.kept);
              line.bytes = grown;
            }
            line.kept += bytes.copy(line.bytes, line.kept, start, start + wanted);
          }
          line.length += contentEnd - start;
        }
        if (newline < 0) break; // the line goes on in the next chunk
        if (line.length > 0) yield line;
        line.kept = 0;
        line.length = 0;
        ended = false;
        start = end + 1;
      }
    }
    if (line.length > 0) yield line; // a last line without its newline
  } finally {
    fs.closeSync(fd);
  }
}
