/**
 * How `account show` and `status` say that an account uses less than its
 * setting because its smarthost taught so (src/model/learnt-figure.ts), and
 * why. Pure wording; a note is empty (a line absent) when the account uses
 * its setting.
 */
import { effectiveFigure, type LearntFigureKind, type LearntFigureRecord } from '../../model/learnt-figure.js';

/** The refusal that taught a figure: the reply, and when. */
export interface Refusal {
  reply: string;
  learnedAt: string;
}

/** A figure the account uses below its setting, and the refusal that taught it. */
export interface LoweredFigure {
  figure: number;
  refusal: Refusal;
}

/** The figure the account uses now when its smarthost lowered it below the setting; null when the setting stands. */
export function loweredFigure(kind: LearntFigureKind, configured: number, record: LearntFigureRecord | null, now: number): LoweredFigure | null {
  const figure = effectiveFigure(kind, configured, record, now);
  if (record === null || figure >= configured) return null;
  return { figure, refusal: { reply: record.reply, learnedAt: record.learnedAt } };
}

/** `account show`'s note after `concurrency`: ` (the smarthost takes 3: it refused one more connection with "432 ..." at T; ...)`. */
export function connectionsNote(figure: number | null, refusal: Refusal | null): string {
  if (figure === null || refusal === null) return '';
  return ` (the smarthost takes ${figure}: it refused one more connection with "${refusal.reply}" at ${refusal.learnedAt}; one more is tried each hour since, and setting concurrency again forgets it)`;
}

/** `account show`'s note after the recipients per transaction: ` (the smarthost takes 7: learnt from "452 too many recipients")`. */
export function recipientsNote(figure: number | null): string {
  return figure === null ? '' : ` (the smarthost takes ${figure}: learnt from "452 too many recipients")`;
}

/** `status`'s line for an account whose connections at once were lowered; null when it uses its setting. */
export function connectionsLine(account: string, configured: number, lowered: LoweredFigure | null): string | null {
  if (lowered === null) return null;
  const { figure, refusal } = lowered;
  return `account ${account}: ${figure} connections at once, not ${configured} (the smarthost refused one more with "${refusal.reply}" at ${refusal.learnedAt}; one more each hour since)`;
}
