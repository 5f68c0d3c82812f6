/**
 * A figure an account's smarthost taught by refusing more than it takes.
 * Pure: the table of kinds (one row per figure: its file in the spool, its
 * name, the setting it lowers), the shape every kind is kept in, and when
 * a kept one applies. What a reply teaches is each kind's own parsing:
 * recipients per transaction in recipient-cap.ts, connections at once in
 * connection-cap.ts.
 *
 * A figure is kept in spool/accounts/NAME.<file>.json (src/spool/
 * learnt-figures.ts), lowered during a flush by src/delivery/learnt-figure.ts,
 * and forgotten when its setting changes.
 */

/** The figures a smarthost can teach, one row each. */
export const LEARNT_FIGURES = {
  /** "452 4.5.3 too many recipients" (recipient-cap.ts). */
  recipients: {
    /** The record's file: spool/accounts/NAME.rcpt.json. */
    file: 'rcpt',
    /** What the figure counts, in sentences: "the smarthost takes 3 recipients per transaction". */
    what: 'recipients per transaction',
    /** The account's setting it lowers (src/config/accounts.ts). */
    setting: 'maxRecipientsPerTransaction',
    /** How the flush says it uses a lowered figure. */
    using: (max: number) => `sending ${max} at a time`,
  },
  /** One more connection refused while others were open (connection-cap.ts). */
  connections: {
    file: 'conn',
    what: 'connections at once',
    setting: 'concurrency',
    using: (max: number) => `using ${max}`,
  },
} as const;

export type LearntFigureKind = keyof typeof LEARNT_FIGURES;

export const LEARNT_FIGURE_KINDS = Object.keys(LEARNT_FIGURES) as LearntFigureKind[];

/** The account's learnt figure, as kept in the spool (every kind alike). */
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
