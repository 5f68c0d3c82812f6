/**
 * The transaction journal of one delivery batch: `spool/journal/<pid>.<n>.jsonl`.
 * Each SMTP transaction appends one line naming its entry and recipients,
 * with each recipient's attempt count as it was when the transaction began,
 * and the final dot waits until that line is durable. So after any crash
 * (kill -9, power cut) every transaction whose message may have been
 * accepted by the smarthost is named in a journal; recovery
 * (journal-recovery.ts) compares the counts with the state files to find
 * the ones whose outcome was never recorded: possible duplicates.
 *
 * Group commit: writers add their line synchronously (one small write) and
 * wait for a shared fdatasync; while one fdatasync runs, the lines written
 * meanwhile wait for the next one, which starts as soon as it ends. With N
 * workers at most one fdatasync is in flight, and it costs each transaction
 * latency (overlapping MAIL, RCPT and DATA), not throughput.
 *
 * The file is preallocated with zeros (written and fsynced when it opens,
 * and again each time the lines reach its end), and lines overwrite them:
 * an fdatasync that changes no file size needs no file-system journal
 * commit, which measured about half the cost of one after an append.
 * Readers stop a line at the first NUL.
 *
 * Opening returns once the file exists: its first fsync and its
 * directory's run in the background (`ready`), while the batch's sessions
 * connect, greet and say EHLO, and the first group fdatasync starts only
 * after them, so no line counts as durable before the file's directory
 * entry is. A failure there is the first transaction's failure, before
 * its dot, like any failed fdatasync.
 *
 * After the outcome, one thing only: an entry whose last transaction left
 * every recipient final gets a `{"done":"<id>"}` line (`finish`) instead of
 * being removed at once (src/spool/finished-entries.ts removes it later);
 * the line is its record, as the removal was: recovery and `status` treat
 * the entry as gone. Every other outcome is recorded in the state file,
 * which recovery reads. The journal is removed when the batch ends with
 * every outcome durable and every finished entry removed; a batch that
 * failed leaves it for recovery.
 *
 * Failures: an append or fdatasync error rejects the waiting transactions
 * (their dot is never sent) and every later one; the caller stops the batch.
 */
import fs from 'node:fs';
import { fsyncDir, fsyncFd } from './durable-fs.js';
import { journalPath, type Spool } from './paths.js';
import { doneLine } from './journal-done-lines.js';

export interface JournalRecipient {
  address: string;
  /** The recipient's `attempts` in the state file when the transaction began. */
  attempts: number;
}

/** One transaction's line of the journal. */
export interface JournalRecord {
  /** Entry id. */
  id: string;
  /** ISO time the transaction began. */
  at: string;
  rcpt: [address: string, attempts: number][];
}

let journalsOpened = 0;

/**
 * Zeros written ahead of the lines, about 450 transactions' worth: each
 * extension costs one fdatasync a file-system commit. Small, so a nearly
 * full disk (a flush starts with 64 KiB free) still takes it.
 */
const PREALLOCATE_BYTES = 64 * 1024;

export class TransactionJournal {
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** The fdatasync in flight, if any. */
  private syncing: Promise<void> | null = null;
  private failure: unknown = null;
  private closed = false;
  /** fdatasyncs started so far (group commit makes this far fewer than transactions). */
  syncs = 0;
  /** The file's first fsync and its directory's: settles (never rejects) once they are done, either way. */
  private ready: Promise<void> = Promise.resolve();

  /** Where the next line goes. */
  private offset = 0;
  /** The file's size: zeros from `offset` up to here. */
  private allocated = 0;

  private constructor(
    private readonly fd: number,
    readonly file: string,
  ) {}

  private preallocate(): void {
    const zeros = Buffer.alloc(PREALLOCATE_BYTES);
    let written = 0;
    while (written < zeros.length) written += fs.writeSync(this.fd, zeros, written, zeros.length - written, this.allocated + written);
    this.allocated += zeros.length;
  }

  /**
   * Creates the journal file (once per batch). Its preallocation and its
   * directory entry are made durable in the background: the first group
   * fdatasync waits for them, so the first transaction's line is durable
   * only once the file is. A file that cannot be created throws here.
   */
  static async open(spool: Spool): Promise<TransactionJournal> {
    const file = journalPath(spool, `${process.pid}.${++journalsOpened}.${Date.now().toString(36)}`);
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    const journal = new TransactionJournal(fd, file);
    try {
      journal.preallocate();
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    journal.ready = (async () => {
      await fsyncFd(fd);
      await fsyncDir(spool.journal);
    })().catch((err: unknown) => void (journal.failure ??= err));
    return journal;
  }

  /**
   * Appends the transaction's line; resolves once it is durable. Never
   * rejects unhandled: callers that never wait (the envelope was refused)
   * leave no dangling rejection.
   */
  begin(id: string, recipients: readonly JournalRecipient[], now: number): Promise<void> {
    if (this.failure !== null) return rejected(this.failure);
    const record: JournalRecord = { id, at: new Date(now).toISOString(), rcpt: recipients.map((r) => [r.address, r.attempts]) };
    if (!this.append(Buffer.from(JSON.stringify(record) + '\n'))) return rejected(this.failure);
    return this.sync();
  }

  /**
   * Appends the line that records an entry as finished (every recipient
   * final): from here on it counts as removed, for recovery and `status`.
   * Synchronous, like a transaction's line: once it returns, the line is
   * in the kernel and survives a kill -9; it becomes durable with the next
   * group fdatasync (the next transaction's, or `sync`). False when the
   * journal has failed (nothing recorded: the caller removes the entry
   * itself).
   */
  finish(id: string): boolean {
    return this.failure === null && this.append(doneLine(id));
  }

  /** Resolves once every line written so far is durable (one group fdatasync); rejects with the journal's failure. */
  sync(): Promise<void> {
    if (this.failure !== null) return rejected(this.failure);
    const durable = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    durable.catch(() => {});
    this.kick();
    return durable;
  }

  /** Writes one line at the end of the lines; false (and the journal failed) if it could not. */
  private append(line: Buffer): boolean {
    try {
      // Past the zeros, more zeros: the next fdatasync also commits the new size.
      if (this.offset + line.length > this.allocated) this.preallocate();
      let written = 0;
      while (written < line.length) written += fs.writeSync(this.fd, line, written, line.length - written, this.offset + written);
      this.offset += line.length;
      return true;
    } catch (err) {
      this.failure = err;
      return false;
    }
  }

  /** The first error met, if any: the batch must stop. */
  get error(): unknown {
    return this.failure;
  }

  private kick(): void {
    if (this.syncing !== null || this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    this.syncs++;
    const settle = (err: unknown) => {
      this.syncing = null;
      if (err) this.failure ??= err;
      for (const w of batch) (this.failure === null ? w.resolve() : w.reject(this.failure));
      this.kick();
    };
    // The first round waits for the file's own fsyncs (open): until then no line is durable.
    this.syncing = this.ready.then(
      () =>
        new Promise<void>((done) => {
          if (this.failure !== null) return (settle(null), done());
          fs.fdatasync(this.fd, (err) => (settle(err), done()));
        }),
    );
  }

  /**
   * Ends the batch. `complete`: every transaction's outcome is durable in
   * the state files, so the journal is removed (a removal lost to a power
   * cut is harmless: recovery finds every outcome recorded). Otherwise it
   * stays for the next flusher's recovery.
   */
  async close(complete: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A transaction refused at its envelope never waited for its line: its fdatasync may still run (and the open's fsyncs).
    await this.ready;
    while (this.syncing !== null) await this.syncing;
    fs.closeSync(this.fd);
    if (complete) fs.rmSync(this.file, { force: true });
  }
}

function rejected(err: unknown): Promise<void> {
  const p = Promise.reject(err);
  p.catch(() => {});
  return p;
}
