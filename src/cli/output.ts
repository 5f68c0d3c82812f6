/**
 * Writing to a command's stdout with back-pressure (src/output-stream.ts),
 * which also makes a reader that goes away (EPIPE) end output quietly.
 */
import { writeWithBackPressure } from '../output-stream.js';
import type { CommandContext } from './context.js';

export function writeOut(ctx: CommandContext, text: string): Promise<void> | void {
  return writeWithBackPressure(ctx.stdout, text);
}
