/**
 * The send ledger of an account: spool/accounts/<account>.sent, one line
 * "<epoch ms> <recipients>" per SMTP transaction sent through the account,
 * kept only when the account has sending limits. The limits are counted
 * from it, so no restart, reboot, second flush or agent reload resets them.
 *
 * Crash safety: a transaction's line is appended and fsynced BEFORE the
 * transaction starts (the reservation). A crash between the two counts a
 * transaction that was never sent: the limit errs toward sending less,
 * never more. fsyncs of concurrent reservations are coalesced (one in
 * flight, one queued), so parallel sessions share them. A torn last line
 * (a crash mid-append) is skipped when read.
 *
 * Only the flusher (under the instance lock) appends or compacts; readers
 * (status) only read. Compaction at open drops lines older than the longest
 * window, rewriting the file durably through the record store (records.ts:
 * tmp + fsync + rename + dir fsync).
 */
import fs from 'node:fs';
import type { LedgerRecord } from '../model/sending-limits.js';
import { fromFsError } from '../errors.js';
import { accountsDir, sendLedgerPath, type Spool } from './paths.js';
import { APPEND_NOFOLLOW, fsyncFd, writeAll, fsyncDir } from './durable-fs.js';
import { readSpoolText, replaceSpoolFile } from './records.js';

function parseLedger(text: string): LedgerRecord[] {
  const records: LedgerRecord[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+) (\d+)$/.exec(line);
    if (match !== null) records.push({ at: Number(match[1]), recipients: Number(match[2]) });
  }
  return records;
}

export function readSendLedger(spool: Spool, account: string): LedgerRecord[] {
  try {
    return parseLedger(readSpoolText(sendLedgerPath(spool, account)) ?? '');
  } catch (err) {
    throw fromFsError(`cannot read the send ledger of account ${account}`, err);
  }
}

export class SendLedger {
  private syncing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private failure: unknown = null;

  private constructor(
    private readonly fd: number,
    readonly records: LedgerRecord[],
  ) {}

  /** Opens the ledger for appending, first dropping records older than `keepMs` before `now`. */
  static async open(spool: Spool, account: string, now: number, keepMs: number): Promise<SendLedger> {
    const file = sendLedgerPath(spool, account);
    const dir = accountsDir(spool);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const all = parseLedger(readSpoolText(file) ?? '');
      const kept = all.filter((r) => r.at > now - keepMs);
      if (kept.length < all.length) await replaceSpoolFile(spool, file, kept.map((r) => `${r.at} ${r.recipients}\n`).join(''));
      const existed = fs.existsSync(file);
      const fd = fs.openSync(file, APPEND_NOFOLLOW, 0o600);
      if (!existed) await fsyncDir(dir);
      return new SendLedger(fd, kept);
    } catch (err) {
      throw fromFsError(`cannot open the send ledger of account ${account}`, err);
    }
  }

  /**
   * Records a transaction about to be sent, in memory at once (so the next
   * capacity check sees it) and on disk before the promise resolves.
   */
  async append(record: LedgerRecord): Promise<void> {
    this.records.push(record);
    writeAll(this.fd, `${record.at} ${record.recipients}\n`);
    await this.sync();
  }

  /**
   * Coalesced fsync: covers every append made before it starts. The first
   * failure is kept and every later sync rejects with it, as DirSyncer and
   * the journal do: after a failed fsync the kernel may have dropped the
   * lines, and a later fsync that succeeds would not bring them back.
   */
  private sync(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.syncing === null) {
      this.syncing = fsyncFd(this.fd)
        .catch((err: unknown) => {
          this.failure ??= err;
          throw this.failure;
        })
        .finally(() => (this.syncing = null));
      return this.syncing;
    }
    this.queued ??= this.syncing.then(
      () => {
        this.queued = null;
        return this.sync();
      },
      (err: unknown) => {
        this.queued = null;
        throw err;
      },
    );
    return this.queued;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
