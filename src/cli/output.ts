/**
 * Writing to a command's stdout with back-pressure: a listing of 20,000
 * entries piped into `less` waits for the pipe instead of buffering the
 * whole output in memory.
 *
 * When the reader goes away (`bulkmailer status | head`), the write fails
 * with EPIPE: there is nothing left to say to anyone, so the process ends
 * quietly with the exit code it has, as a C program killed by SIGPIPE
 * would, instead of printing a stack trace. Listings are read-only, so
 * stopping between two writes loses nothing.
 */
import type { CommandContext } from './context.js';

const guarded = new WeakSet<object>();

function guardPipe(stream: NodeJS.WritableStream): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

export function writeOut(ctx: CommandContext, text: string): Promise<void> | void {
  guardPipe(ctx.stdout);
  if (!ctx.stdout.write(text)) return new Promise((resolve) => ctx.stdout.once('drain', () => resolve()));
}
