/**
 * An account's connections at once during a flush: the setting, or what
 * its smarthost taught by refusing one more while others were open
 * (src/model/connection-cap.ts says when and why), kept in the spool
 * (src/spool/connection-caps.ts) as learnt-figure.ts does. Shared by the
 * account's batches for the whole flush.
 */
import { lowerConnections, namesConnectionLimit } from '../model/connection-cap.js';
import { readConnectionCap, writeConnectionCap, type Spool } from '../spool/index.js';
import { LearntFigure } from './learnt-figure.js';

export class ConnectionsPerAccount {
  private constructor(private readonly figure: LearntFigure) {}

  static open(spool: Spool, account: string, configured: number, now: () => number): ConnectionsPerAccount {
    return new ConnectionsPerAccount(new LearntFigure(account, configured, readConnectionCap(spool, account), now, (r) => writeConnectionCap(spool, r)));
  }

  get current(): number {
    return this.figure.current;
  }

  /**
   * A session was refused with `reply` while `open` others of the account
   * were open: lowers the figure to `open` (never raises it), kept for
   * later flushes when the reply names the limit, for this flush only when
   * it is a bare 421 (src/model/connection-cap.ts says why). Answers
   * whether the refusal was about the count (some other session open),
   * so the refused session's mail goes to the others, uncounted.
   */
  async refused(open: number, reply: string, onWarning: (message: string) => void): Promise<boolean> {
    if (open < 1) return false;
    const max = lowerConnections(this.figure.current, open);
    if (max === null) return true;
    const keep = namesConnectionLimit(reply);
    const until = keep ? 'from now on' : 'for this flush (a bare 421 may be passing: not kept)';
    await this.figure.lower(max, reply, `the smarthost takes ${max} connections at once (${reply}); using ${max} ${until}`, onWarning, keep);
    return true;
  }
}
