/**
 * The finished entries of one delivery batch (every recipient final after
 * its last transaction): recorded by a line in the batch's transaction
 * journal, removed later, in rounds, off the transactions' path.
 *
 * Why: removing an entry is two unlinks on the thread pool (each freeing
 * ext4 blocks while the journal's fdatasyncs run), a lock cycle and a share
 * of a directory fsync; done as each entry finished, that work competed
 * with the transactions still running for the two cores, and no promise
 * needs it there. The journal line (`TransactionJournal.finish`: one write,
 * in the kernel once it returns) records the entry as finished as the
 * removal did: after a kill -9 or a power cut, recovery removes every entry
 * a done line names instead of marking its recipients possible duplicates
 * (journal-recovery.ts), and `status` does not list it (journal-done-lines.ts).
 *
 * When: a round starts once 4,096 entries or 64 MiB of their messages wait
 * (RoundLimits), and `settle`, when the batch ends, removes the rest. A
 * drain that finishes entries faster than the disk removes them waits
 * (`whenRoom`) while two rounds are outstanding, so the entries waiting
 * for removal, and the ids held, stay a few rounds at most. A round removes
 * PARALLEL entries at a time. Each removal takes the entry's state lock (a `hold` or
 * `retry` meanwhile never writes a state back after it) and joins the
 * batch's group fsync of state directories.
 *
 * How it fails: a removal that fails (EIO) does not stop the others of its
 * round; the first failure is kept and `settle` rejects with it, and the
 * batch then keeps its journal, whose done lines make the next flusher's
 * recovery remove what is left. A journal that has failed records nothing:
 * `finish` answers false and the caller removes the entry itself, the
 * removal being its record as before.
 */
import { BulkmailerError, fromFsError } from '../errors.js';
import type { DirSyncer } from './dir-syncer.js';
import type { Spool } from './paths.js';
import { removeFinishedEntry } from './state-store.js';
import type { TransactionJournal } from './transaction-journal.js';
import { crashPoint } from './crash-points.js';

/** When a round of removals starts: once this many finished entries wait, or their messages hold this many bytes. */
export interface RoundLimits {
  entries: number;
  bytes: number;
}

export const DEFAULT_ROUND_LIMITS: Readonly<RoundLimits> = { entries: 4096, bytes: 64 * 1024 * 1024 };

/**
 * A batch's round limits: the defaults, unless BULKMAILER_REMOVAL_ROUND
 * (for the tests, as BULKMAILER_CRASH_AT: unset in normal use) gives a
 * number of entries, so that a test's removals, and a failure of their
 * fsync, come between two transactions of a small batch. Read per batch.
 */
export function roundLimits(): RoundLimits {
  const entries = Number(process.env.BULKMAILER_REMOVAL_ROUND);
  return Number.isInteger(entries) && entries > 0 ? { ...DEFAULT_ROUND_LIMITS, entries } : { ...DEFAULT_ROUND_LIMITS };
}
/**
 * Removals in flight at once in a round. Each has at most one unlink on the
 * pool at a time, so the journal's fdatasync waits behind a few of them at
 * most; fewer (two, tried) made a 100,000-entry drain wait on its rounds,
 * each removal's pool round trip being slow while the main thread is busy
 * with the sessions (about as many removals were in flight before, one per
 * session).
 */
const PARALLEL = 16;
/** Rounds started and not done beyond which deliveries wait (`whenRoom`): one running, one queued behind it. */
const ROUNDS_OUTSTANDING = 2;

export class FinishedEntries {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** The rounds so far, chained; never rejects (a failure is kept in `failure`). */
  private rounds: Promise<void> = Promise.resolve();
  /** The rounds started and not done, oldest first (they end in that order: they are chained). */
  private outstanding: Promise<void>[] = [];
  private failure: unknown = null;
  /** Entries removed so far. */
  removed = 0;

  constructor(
    private readonly spool: Spool,
    private readonly journal: Pick<TransactionJournal, 'finish' | 'sync'>,
    private readonly syncer: DirSyncer,
    private readonly limits: Readonly<RoundLimits> = DEFAULT_ROUND_LIMITS,
  ) {}

  /**
   * Records the entry as finished (its journal line) and queues its
   * removal. False when nothing could be recorded (the journal has failed):
   * the caller removes the entry now.
   */
  finish(id: string, messageBytes: number): boolean {
    if (!this.journal.finish(id)) return false;
    this.pending.push(id);
    this.pendingBytes += messageBytes;
    if (this.pending.length >= this.limits.entries || this.pendingBytes >= this.limits.bytes) this.startRound();
    return true;
  }

  /**
   * Null while the removals keep up; else (ROUNDS_OUTSTANDING rounds started
   * and not done) the end of the oldest round, which a delivery awaits
   * before it takes another entry: in a drain faster than the disk's
   * removals the finished entries waiting stay about three rounds at most.
   */
  whenRoom(): Promise<void> | null {
    return this.outstanding.length >= ROUNDS_OUTSTANDING ? this.outstanding[0]! : null;
  }

  /**
   * Removes every entry finished so far, once their done lines are durable
   * (for a batch that fails after this, its kept journal must name them);
   * rejects with the first failure of any round.
   */
  async settle(): Promise<void> {
    // A journal that failed: its lines are not known durable, but the removals still record the entries.
    await this.journal.sync().catch(() => {});
    crashPoint('flush-before-finished-removal');
    this.startRound();
    await this.rounds;
    if (this.failure !== null) throw this.failure;
  }

  private startRound(): void {
    const ids = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (ids.length === 0) return;
    const round = this.rounds.then(() => this.removeAll(ids));
    this.rounds = round;
    this.outstanding.push(round);
    void round.then(() => this.outstanding.shift());
  }

  private async removeAll(ids: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++]!;
        try {
          await removeFinishedEntry(this.spool, id, { syncer: this.syncer });
          this.removed++;
        } catch (err) {
          this.failure ??= err instanceof BulkmailerError ? err : fromFsError(`cannot remove the delivered entry ${id}`, err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, ids.length) }, worker));
  }
}
