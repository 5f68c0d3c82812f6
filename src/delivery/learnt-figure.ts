/**
 * A figure of an account that its smarthost can lower during a flush and
 * that later flushes start from (src/model/learnt-figure.ts): recipients per
 * transaction (recipients-per-transaction.ts) and connections at once
 * (connections-per-account.ts). Shared by every session of the account; the
 * figure only goes down during a flush.
 *
 * A lesson is written to the spool (lower() resolves once it is, or once a
 * lower figure's write has taken over): a later flush starts from it. A
 * write that fails is reported and the flush goes on with the lower figure
 * in memory (the record is advice: losing it costs one more refusal, never
 * mail).
 */
import { effectiveFigure, type LearntFigureRecord } from '../model/learnt-figure.js';

export class LearntFigure {
  private max: number;
  /** Writes run one after another, each of the figure as it is then: the last on disk is the lowest. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly account: string,
    private readonly configured: number,
    record: LearntFigureRecord | null,
    private readonly now: () => number,
    private readonly write: (record: LearntFigureRecord) => Promise<void>,
  ) {
    this.max = effectiveFigure(configured, record);
  }

  get current(): number {
    return this.max;
  }

  /**
   * Lowers the figure to `max` (never raises it), saying `news`; answers
   * whether it changed. `keep: false` lowers it for this flush only (a
   * refusal that may be passing): nothing is written.
   */
  async lower(max: number, reply: string, news: string, onWarning: (message: string) => void, keep = true): Promise<boolean> {
    if (max >= this.max) return false;
    this.max = max;
    onWarning(`account ${this.account}: ${news}`);
    if (!keep) return true;
    const write = this.writing.then(async () => {
      if (this.max !== max) return; // a lower figure came meanwhile: its write says it
      try {
        await this.write({ version: 1, account: this.account, max, configured: this.configured, learnedAt: new Date(this.now()).toISOString(), reply });
      } catch (err) {
        onWarning(`account ${this.account}: ${(err as Error).message}; the figure holds for this flush only`);
      }
    });
    this.writing = write;
    await write;
    return true;
  }
}
