/**
 * An account's recipients per transaction during a flush: the setting, or
 * what its smarthost taught with "452 4.5.3 too many recipients"
 * (src/model/recipient-cap.ts says when and why), kept in the spool
 * (src/spool/recipient-caps.ts) as learnt-figure.ts does.
 */
import { readRecipientCap, writeRecipientCap, type Spool } from '../spool/index.js';
import { LearntFigure } from './learnt-figure.js';

export class RecipientsPerTransaction {
  private constructor(private readonly figure: LearntFigure) {}

  static open(spool: Spool, account: string, configured: number, now: () => number): RecipientsPerTransaction {
    return new RecipientsPerTransaction(new LearntFigure(account, configured, readRecipientCap(spool, account), now, (r) => writeRecipientCap(spool, r)));
  }

  get current(): number {
    return this.figure.current;
  }

  /** Lowers the figure to `max` (never raises it); answers whether it changed. */
  learn(max: number, reply: string, onWarning: (message: string) => void): Promise<boolean> {
    return this.figure.lower(max, reply, `the smarthost takes ${max} recipients per transaction (${reply}); sending ${max} at a time from now on`, onWarning);
  }
}
