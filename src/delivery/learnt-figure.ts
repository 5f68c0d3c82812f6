/**
 * A figure of an account that its smarthost can lower during a flush and
 * that later flushes start from (src/model/learnt-figure.ts: the table of
 * kinds): recipients per transaction, lowered by deliver-entry.ts on a
 * "452 too many recipients", and connections at once, lowered by
 * deliver-batch.ts when one more connection is refused. Opened once per
 * account and flush (src/flush/account-run.ts), read from the spool then
 * and never again: `current` is a field read. Shared by every session of
 * the account; the figure only goes down during a flush.
 *
 * A lesson is written to the spool (lower() resolves once it is, or once a
 * lower figure's write has taken over): a later flush starts from it. A
 * write that fails is reported and the flush goes on with the lower figure
 * in memory (the record is advice: losing it costs one more refusal, never
 * mail).
 */
import type { AccountSettings } from '../config/accounts.js';
import { effectiveFigure, LEARNT_FIGURES, type LearntFigureKind, type LearntFigureRecord } from '../model/learnt-figure.js';
import { readLearntFigure, writeLearntFigure, type Spool } from '../spool/index.js';

/** The account settings a learnt figure lowers (the table's `setting` column). */
type LearntSetting = (typeof LEARNT_FIGURES)[LearntFigureKind]['setting'];

export class LearntFigure {
  private max: number;
  /** Writes run one after another, each of the figure as it is then: the last on disk is the lowest. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly spool: Spool,
    private readonly account: string,
    private readonly kind: LearntFigureKind,
    private readonly configured: number,
    private readonly now: () => number,
  ) {
    this.max = effectiveFigure(kind, configured, readLearntFigure(spool, account, kind), now());
  }

  /** The account's `kind` figure: its setting, or what its smarthost taught since the setting was made (read from the spool now). */
  static open(spool: Spool, account: Pick<AccountSettings, 'name' | LearntSetting>, kind: LearntFigureKind, now: () => number): LearntFigure {
    return new LearntFigure(spool, account.name, kind, account[LEARNT_FIGURES[kind].setting], now);
  }

  get current(): number {
    return this.max;
  }

  /**
   * Lowers the figure to `max` (never raises it), taught by `reply`, and
   * says so; answers whether it changed. With `passing` (why the refusal
   * may be passing) it holds for this flush only: nothing is written.
   */
  async lower(max: number, reply: string, onWarning: (message: string) => void, passing?: string): Promise<boolean> {
    if (max >= this.max) return false;
    this.max = max;
    const row = LEARNT_FIGURES[this.kind];
    const until = passing === undefined ? 'from now on' : `for this flush (${passing}: not kept)`;
    onWarning(`account ${this.account}: the smarthost takes ${max} ${row.what} (${reply}); ${row.using(max)} ${until}`);
    if (passing !== undefined) return true;
    const write = this.writing.then(async () => {
      if (this.max !== max) return; // a lower figure came meanwhile: its write says it
      const record: LearntFigureRecord = { version: 1, account: this.account, max, configured: this.configured, learnedAt: new Date(this.now()).toISOString(), reply };
      try {
        await writeLearntFigure(this.spool, this.kind, record);
      } catch (err) {
        onWarning(`account ${this.account}: ${(err as Error).message}; the figure holds for this flush only`);
      }
    });
    this.writing = write;
    await write;
    return true;
  }
}
