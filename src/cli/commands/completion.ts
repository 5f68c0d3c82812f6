/**
 * `bulkmailer completion bash|zsh|fish`: prints the completion script for
 * the shell (src/cli/completion.ts), built from the command tree.
 */
import { completionScript } from '../completion.js';
import type { Shell } from '../shells.js';
import type { CommandContext } from '../context.js';
import { writeOut } from '../output.js';
import { buildProgram } from '../main.js';

export default async function completion(ctx: CommandContext, shell: Shell): Promise<number> {
  await writeOut(ctx, completionScript(buildProgram(), shell));
  return 0;
}
