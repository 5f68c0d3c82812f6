/**
 * Writing a command's output to stdout or stderr, for every layer (the CLI,
 * the sendmail command's -bp): with back-pressure, so a listing of 20,000
 * entries piped into `less` waits for the pipe instead of buffering all of
 * it; and what happens when the reader of its stdout or stderr goes away
 * (`bulkmailer config list | head -3`, a terminal closed under `flush`):
 * the next write fails with EPIPE. There is nobody left to tell anything
 * to, so from then on that stream swallows what is written to it, and the
 * command finishes its work and exits with its own code (0 for a listing),
 * quietly, without a stack trace.
 *
 * Why finish rather than exit at once as SIGPIPE would: `delete`, `hold`,
 * `flush` and the agent print while they work, and a pager closed early
 * must not stop them half way. A listing merely reads to its end.
 *
 * Installed once per process by the entry points in bin/ (both commands);
 * any error other than EPIPE is rethrown as before.
 */

type Stream = NodeJS.WriteStream | NodeJS.WritableStream;

const silenced = new WeakSet<object>();

function silence(stream: Stream): void {
  if (silenced.has(stream)) return;
  silenced.add(stream);
  // Every later write succeeds at once; a writer waiting for 'drain' (back-pressure) is released.
  (stream as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    const callback = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (callback) process.nextTick(callback);
    return true;
  };
  stream.emit('drain');
}

/** Writes `text`; resolves once the stream can take more (at once, usually). */
export function writeWithBackPressure(stream: NodeJS.WritableStream, text: string): Promise<void> | void {
  if (!stream.write(text)) return new Promise((resolve) => stream.once('drain', () => resolve()));
}

export function endQuietlyWhenReaderGoes(streams: readonly Stream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      silence(stream);
    });
  }
}
