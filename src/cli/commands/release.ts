/**
 * `bulkmailer release ID...`: held entries become deliverable again, and a
 * running agent is nudged. See hold.ts for locking and failure modes.
 */
import type { CommandContext } from '../context.js';
import { setHeldCommand } from './hold.js';

export default function release(ctx: CommandContext, typed: string[]): Promise<number> {
  return setHeldCommand(ctx, typed, false);
}
