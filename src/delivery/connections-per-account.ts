/**
 * An account's connections at once during a flush: the setting, or what its
 * smarthost taught by refusing one more (src/model/connection-cap.ts says
 * when and why). Shared by the account's batches for the whole flush; the
 * figure only goes down during a flush.
 *
 * A lesson is written to the spool (src/spool/connection-caps.ts) before
 * the refused session's mail goes to the sessions that remain: a later
 * flush starts from it. A write that fails is reported and the flush goes
 * on with the lower figure in memory (the record is advice: losing it costs
 * one more refused connection).
 */
import { effectiveConcurrency, lowerConnections, type ConnectionCapRecord } from '../model/connection-cap.js';
import { readConnectionCap, writeConnectionCap, type Spool } from '../spool/index.js';

export class ConnectionsPerAccount {
  private max: number;

  private constructor(
    private readonly spool: Spool,
    private readonly account: string,
    private readonly configured: number,
    record: ConnectionCapRecord | null,
    private readonly now: () => number,
  ) {
    this.max = effectiveConcurrency(configured, record);
  }

  static open(spool: Spool, account: string, configured: number, now: () => number): ConnectionsPerAccount {
    return new ConnectionsPerAccount(spool, account, configured, readConnectionCap(spool, account), now);
  }

  get current(): number {
    return this.max;
  }

  /**
   * A session was refused with `reply` while `open` others of the account
   * were open: lowers the figure to `open` (never raises it). Answers
   * whether the refusal was about the count (some other session open),
   * so the refused session's mail goes to the others, uncounted.
   */
  async refused(open: number, reply: string, onWarning: (message: string) => void): Promise<boolean> {
    if (open < 1) return false;
    const max = lowerConnections(this.max, open);
    if (max === null) return true;
    this.max = max;
    const record: ConnectionCapRecord = {
      version: 1,
      account: this.account,
      max,
      configured: this.configured,
      learnedAt: new Date(this.now()).toISOString(),
      reply,
    };
    onWarning(`account ${this.account}: the smarthost takes ${max} connections at once (${reply}); using ${max} from now on`);
    try {
      await writeConnectionCap(this.spool, record);
    } catch (err) {
      onWarning(`account ${this.account}: ${(err as Error).message}; the figure holds for this flush only`);
    }
    return true;
  }
}
