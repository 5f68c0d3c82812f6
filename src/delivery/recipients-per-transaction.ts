/**
 * An account's recipients per transaction during a flush: the setting, or
 * what its smarthost taught (src/model/recipient-cap.ts says when and why).
 * Shared by every session of the account, so a lesson learnt on one
 * connection applies to all at their next transaction; the figure only
 * goes down during a flush.
 *
 * A lesson is written to the spool (src/spool/recipient-caps.ts) before
 * the put-off recipients are sent again: a later flush starts from it. A
 * write that fails is reported and the flush goes on with the lower figure
 * in memory (the record is advice: losing it costs one more 452).
 */
import type { RecipientCapRecord } from '../model/recipient-cap.js';
import { effectiveMaxRecipients } from '../model/recipient-cap.js';
import { readRecipientCap, writeRecipientCap, type Spool } from '../spool/index.js';

export class RecipientsPerTransaction {
  private max: number;

  private constructor(
    private readonly spool: Spool,
    private readonly account: string,
    private readonly configured: number,
    record: RecipientCapRecord | null,
    private readonly now: () => number,
  ) {
    this.max = effectiveMaxRecipients(configured, record);
  }

  static open(spool: Spool, account: string, configured: number, now: () => number): RecipientsPerTransaction {
    return new RecipientsPerTransaction(spool, account, configured, readRecipientCap(spool, account), now);
  }

  get current(): number {
    return this.max;
  }

  /** Lowers the figure to `max` (never raises it); answers whether it changed. */
  async learn(max: number, reply: string, onWarning: (message: string) => void): Promise<boolean> {
    if (max >= this.max) return false;
    this.max = max;
    const record: RecipientCapRecord = {
      version: 1,
      account: this.account,
      max,
      configured: this.configured,
      learnedAt: new Date(this.now()).toISOString(),
      reply,
    };
    onWarning(`account ${this.account}: the smarthost takes ${max} recipients per transaction (${reply}); sending ${max} at a time from now on`);
    try {
      await writeRecipientCap(this.spool, record);
    } catch (err) {
      onWarning(`account ${this.account}: ${(err as Error).message}; the figure holds for this flush only`);
    }
    return true;
  }
}
