/**
 * An account's sending limits during a flush: the pure window arithmetic of
 * src/model/sending-limits.ts over the account's send ledger in the spool.
 * Every session asks it before each transaction; the answer and the
 * reservation happen in one synchronous step, so parallel sessions never
 * overshoot a limit between them, and the reservation is on disk before the
 * transaction starts (src/spool/send-ledger.ts says why that order).
 */
import { capacityNow, longestWindowMs, resumeAt, type SendingLimit } from '../model/sending-limits.js';
import { SendLedger, type Spool } from '../spool/index.js';

export type Reservation =
  | { granted: number; persisted: Promise<void> }
  | { granted: 0; blockedBy: SendingLimit; resumeAt: number };

export class SendingLimiter {
  private constructor(
    private readonly limits: readonly SendingLimit[],
    private readonly ledger: SendLedger,
    private readonly now: () => number,
  ) {}

  static async open(spool: Spool, account: string, limits: readonly SendingLimit[], now: () => number): Promise<SendingLimiter> {
    const ledger = await SendLedger.open(spool, account, now(), longestWindowMs(limits));
    return new SendingLimiter(limits, ledger, now);
  }

  /** The limit that stops any transaction now, with when it frees; null when one may go. */
  blocked(): { blockedBy: SendingLimit; resumeAt: number } | null {
    const now = this.now();
    const capacity = capacityNow(this.limits, this.ledger.records, now);
    if (capacity.blockedBy === null) return null;
    return { blockedBy: capacity.blockedBy, resumeAt: resumeAt(capacity.blockedBy, this.ledger.records, now) };
  }

  /** Reserves one transaction of up to `wanted` recipients (fewer when a recipient limit is near). */
  reserve(wanted: number): Reservation {
    const now = this.now();
    const capacity = capacityNow(this.limits, this.ledger.records, now);
    if (capacity.blockedBy !== null) {
      return { granted: 0, blockedBy: capacity.blockedBy, resumeAt: resumeAt(capacity.blockedBy, this.ledger.records, now) };
    }
    const granted = Math.min(wanted, capacity.recipients);
    return { granted, persisted: this.ledger.append({ at: now, recipients: granted }) };
  }

  close(): void {
    this.ledger.close();
  }
}
