/**
 * The health of destinations (where a connection goes: an MX host set, and
 * later an account's smarthost), kept in the spool (records/destinations.json)
 * like Postfix's dead-destination cache: when every host of a destination
 * failed (refused, timed out, 421), it is down until a backoff of its own
 * has passed. Its recipients wait without an attempt counted (promise 6);
 * the other destinations go on. A destination that takes a connection again
 * is up and forgotten.
 *
 * The backoff follows the retry policy's curve by the destination's
 * consecutive failures. A lost or unreadable record forgets which
 * destinations were down: the next flush tries them once more, no harm.
 * Written only by the flusher, under the instance lock; status reads it.
 */
import { backoffDelay, type RetryPolicy } from '../model/retry-policy.js';
import { readRecord, writeRecord, type Spool } from '../spool/index.js';

export interface DestinationDown {
  /** The destination as people read it: "mx1.club.example,mx2.club.example". */
  display: string;
  reason: string;
  failures: number;
  /** ISO times. */
  since: string;
  until: string;
}

const FILE_VERSION = 1;

export class DestinationHealth {
  private dirty = false;

  private constructor(private readonly down: Map<string, DestinationDown>) {}

  static load(spool: Spool): DestinationHealth {
    const record = readRecord(spool, 'destinations') as { version?: number; down?: Record<string, DestinationDown> } | null;
    const down = new Map<string, DestinationDown>();
    if (record?.version === FILE_VERSION && typeof record.down === 'object' && record.down !== null) {
      for (const [key, value] of Object.entries(record.down)) {
        if (typeof value?.until === 'string' && typeof value.failures === 'number') down.set(key, value);
      }
    }
    return new DestinationHealth(down);
  }

  /** The destination's down record while its backoff runs, else null. */
  downNow(key: string, now: number): DestinationDown | null {
    const record = this.down.get(key);
    return record !== undefined && Date.parse(record.until) > now ? record : null;
  }

  /** Every destination down at `now`, soonest back first. */
  listDown(now: number): (DestinationDown & { key: string })[] {
    return [...this.down]
      .filter(([, r]) => Date.parse(r.until) > now)
      .map(([key, r]) => ({ key, ...r }))
      .sort((a, b) => Date.parse(a.until) - Date.parse(b.until));
  }

  markDown(key: string, display: string, reason: string, now: number, policy: RetryPolicy): DestinationDown {
    const previous = this.down.get(key);
    const failures = (previous?.failures ?? 0) + 1;
    const record: DestinationDown = {
      display,
      reason,
      failures,
      since: previous?.since ?? new Date(now).toISOString(),
      until: new Date(now + backoffDelay(failures, policy)).toISOString(),
    };
    this.down.set(key, record);
    this.dirty = true;
    return record;
  }

  markUp(key: string): void {
    if (this.down.delete(key)) this.dirty = true;
  }

  async save(spool: Spool): Promise<void> {
    if (!this.dirty) return;
    await writeRecord(spool, 'destinations', { version: FILE_VERSION, down: Object.fromEntries(this.down) });
    this.dirty = false;
  }
}
