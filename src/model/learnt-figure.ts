/**
 * A figure an account's smarthost taught by refusing more than it takes:
 * recipients per transaction (recipient-cap.ts) or connections at once
 * (connection-cap.ts). Pure: the shape both are kept in
 * (spool/accounts/NAME.rcpt.json, NAME.conn.json) and when a kept one
 * applies.
 */

/** The account's learnt figure, as kept in the spool. */
export interface LearntFigureRecord {
  version: 1;
  account: string;
  /** What the smarthost took. */
  max: number;
  /** The setting when it was learnt: changing the setting forgets the record. */
  configured: number;
  /** ISO time it was learnt. */
  learnedAt: string;
  /** The reply that taught it. */
  reply: string;
}

/** The figure to use: the setting, or less when the smarthost taught so since it was set (at least 1). */
export function effectiveFigure(configured: number, record: LearntFigureRecord | null): number {
  if (record === null || record.configured !== configured) return configured;
  return Math.max(1, Math.min(configured, record.max));
}
