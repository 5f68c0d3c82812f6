/**
 * The message on stdin, read with plain read(2) calls on fd 0 instead of
 * through process.stdin: a one-shot command has nothing else to do while
 * it waits, and not building Node's stdin stream (a net.Socket or
 * fs.ReadStream, and its async iterator) saves a few milliseconds of
 * start-up per message (docs/performance.md). When fd 0 is non-blocking
 * (read says EAGAIN), the rest is read through process.stdin, which waits
 * for it properly; nothing read so far is lost.
 *
 * Fails with the read's system error (EBADF for a closed stdin, EIO...),
 * which the caller reports as an input error.
 */
import { readSync } from 'node:fs';

const CHUNK = 64 * 1024;

export async function* stdinChunks(fd = 0, fallback: () => AsyncIterable<Buffer> | Iterable<Buffer> = () => process.stdin): AsyncGenerator<Buffer> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, CHUNK, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        yield* fallback();
        return;
      }
      if (code === 'EOF') return; // Windows' end of a pipe
      throw err;
    }
    if (n === 0) return;
    yield Buffer.from(buffer.subarray(0, n)); // a copy: the buffer is read into again
  }
}
