/**
 * How `account show` and `status` say that an account's connections at
 * once were lowered by its smarthost (src/model/connection-cap.ts), and
 * why. Pure wording; null when the account uses its setting.
 */
import { effectiveConcurrency, type ConnectionCapRecord } from '../../model/connection-cap.js';

/** The figure the account uses, when its smarthost lowered it below the setting; null otherwise. */
export function learntConcurrency(configured: number, record: ConnectionCapRecord | null): number | null {
  const figure = effectiveConcurrency(configured, record);
  return figure < configured ? figure : null;
}

/** `account show`'s note after the setting: ` (the smarthost takes 3: it refused one more connection with "432 ..." at T; ...)`. */
export function connectionCapNote(configured: number, learnt: number | null, refusal: { reply: string; learnedAt: string } | null): string {
  if (learnt === null || refusal === null || learnt >= configured) return '';
  return ` (the smarthost takes ${learnt}: it refused one more connection with "${refusal.reply}" at ${refusal.learnedAt}; setting concurrency again forgets it)`;
}

/** `status`'s line for an account whose figure was lowered; null when it uses its setting. */
export function connectionCapLine(account: string, configured: number, record: ConnectionCapRecord | null): string | null {
  const figure = learntConcurrency(configured, record);
  if (figure === null || record === null) return null;
  return `account ${account}: ${figure} connections at once, not ${configured} (the smarthost refused one more with "${record.reply}" at ${record.learnedAt})`;
}
