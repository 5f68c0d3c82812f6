/**
 * Writing to a command's stdout with back-pressure: a listing of 20,000
 * entries piped into `less` waits for the pipe instead of buffering the
 * whole output in memory.
 *
 * When the reader goes away, src/reader-gone.ts (installed by bin/) makes
 * every write succeed silently, so the command ends with its own code.
 */
import type { CommandContext } from './context.js';

export function writeOut(ctx: CommandContext, text: string): Promise<void> | void {
  if (!ctx.stdout.write(text)) return new Promise((resolve) => ctx.stdout.once('drain', () => resolve()));
}
