/**
 * Asking a yes/no question on the terminal (for `delete`). Only called when
 * stdin is a TTY; anything but y/yes (including end of input) means no.
 */
import readline from 'node:readline/promises';
import type { CommandContext } from './context.js';

export function canAsk(ctx: CommandContext): boolean {
  return Boolean(ctx.stdin.isTTY) && Boolean(ctx.stderr.isTTY);
}

export async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: ctx.stdin, output: ctx.stderr, terminal: true });
  try {
    const answer = await Promise.race([
      rl.question(`${question} [y/N] `),
      new Promise<string>((resolve) => rl.once('close', () => resolve(''))),
    ]);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
