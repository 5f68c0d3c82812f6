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
 * and forgotten when its setting changes. Connections at once also climb
 * back by themselves, one an hour since the lesson (the table says why).
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
    /**
     * A kept figure climbs back toward the setting by one per this much
     * time since it was learnt; null: it stays until the setting changes
     * (a server's recipients per transaction is its configuration).
     */
    recoversEveryMs: null,
  },
  /** One more connection refused while others were open (connection-cap.ts). */
  connections: {
    file: 'conn',
    what: 'connections at once',
    setting: 'concurrency',
    using: (max: number) => `using ${max}`,
    // A limit on connections is often shared with the user's other clients
    // of the same mailbox (Exchange Online: 3 per mailbox), so what was
    // refused while they were open may be free later. One more an hour,
    // as Postfix's destination concurrency climbs back after its
    // negative feedback; a refusal on the way lowers it again and restarts
    // the climb. The probe costs one refused connection (nothing counted).
    recoversEveryMs: 60 * 60 * 1000,
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

/**
 * The figure to use at `now`: the setting, or less when the smarthost
 * taught so since it was set (at least 1), plus what a kind that recovers
 * (recoversEveryMs) has climbed back since the lesson, never above the
 * setting.
 */
export function effectiveFigure(kind: LearntFigureKind, configured: number, record: LearntFigureRecord | null, now: number): number {
  if (record === null || record.configured !== configured) return configured;
  const every: number | null = LEARNT_FIGURES[kind].recoversEveryMs;
  const since = now - Date.parse(record.learnedAt);
  const regained = every === null || !(since > 0) ? 0 : Math.floor(since / every);
  return Math.max(1, Math.min(configured, record.max + regained));
}
