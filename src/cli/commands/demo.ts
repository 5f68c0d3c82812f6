/**
 * `bulkmailer demo [--recipients N]` (and `npm run demo`): runs the
 * self-contained demonstration in src/demo/run-demo.ts. Touches nothing of
 * the user's: its own temporary home and its own smarthost on 127.0.0.1.
 * A bad --recipients is a usage error (64).
 */
import { usageError } from '../../errors.js';
import { runDemo } from '../../demo/run-demo.js';
import type { CommandContext } from '../context.js';
import { palette } from '../format/color.js';

const MAX_RECIPIENTS = 100_000;

export default function demo(ctx: CommandContext, options: { recipients?: string }): Promise<number> {
  const text = options.recipients ?? '300';
  const recipients = Number(text);
  if (!Number.isInteger(recipients) || recipients < 1 || recipients > MAX_RECIPIENTS) {
    throw usageError(`--recipients: "${text}" is not a whole number from 1 to ${MAX_RECIPIENTS}`);
  }
  return runDemo({ stdout: ctx.stdout, stderr: ctx.stderr, env: ctx.env, style: palette(ctx.color) }, { recipients });
}
