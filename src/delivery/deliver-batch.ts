/**
 * Delivering a batch of entries over up to `concurrency` SMTP sessions, each
 * reused for many transactions; each session takes whole entries, so the
 * transactions of one entry never overlap (promise 3). One pass of a flush
 * is one batch per account. The sessions pull their entries from an
 * EntrySource as they go, so the flush can feed a batch while it is still
 * reading the queue (src/flush/flush.ts) and its connections stay open
 * across what it reads; a session is opened only once it has an entry.
 *
 * Owns its delivery-log writer, the group fsync of its removals and its
 * transaction journal (removed once every outcome is durable; left for
 * recovery otherwise); all are settled before it resolves. Reports through callbacks, never throws: a
 * smarthost that vanished ends the batch as `lost`, any other error as
 * `fatal` once every session has finished its transaction in flight.
 */
import os from 'node:os';
import type { RuntimeConfig } from '../config/runtime.js';
import type { Credentials } from '../config/credentials.js';
import type { OAuth2Credentials } from '../oauth2/access-tokens.js';
import type { Smarthost } from '../config/smarthost.js';
import { BulkmailerError, fromFsError, type ExitCode } from '../errors.js';
import type { FinalOutcome, RecipientOutcome } from '../model/transitions.js';
import type { EntryState } from '../model/entry-state.js';
import { DeliveryLogWriter, DirSyncer, FinishedEntries, TransactionJournal, roundLimits, type Spool } from '../spool/index.js';
import { deliverEntry, type EntryDeliveryContext } from './deliver-entry.js';
import type { AccountRefusal, AccountReplyRule } from './account-replies.js';
import type { SendingLimiter } from './sending-limiter.js';
import type { AccountSettings } from '../config/accounts.js';
import type { LearntFigure } from './learnt-figure.js';
import { SmtpSession, sessionOptionsFor } from './smtp-session.js';
import { E_TOO_MANY_SESSIONS, TooManySessionsError } from './classify-reply.js';
import { lowerConnections, namesConnectionLimit } from '../model/connection-cap.js';

export interface BatchSettings {
  spool: Spool;
  config: RuntimeConfig;
  smarthost: Smarthost;
  credentials: Credentials | OAuth2Credentials | null;
  concurrency: number;
  now: () => number;
  /** Rules from the config, tried before the built-in table (src/delivery/account-replies.ts). */
  accountReplies?: readonly AccountReplyRule[];
  /** The account's sending limits, or null. */
  limiter?: SendingLimiter | null;
  /** The sending account (src/config/accounts.ts): its TLS settings, recipients per transaction, name in the log. */
  account?: AccountSettings;
  /** The account's recipients per transaction, lowered by a 452 4.5.3 (shared by its sessions). */
  recipientsPerTransaction?: LearntFigure;
  /** The account's connections at once, lowered when its smarthost refuses one more (shared by the flush). */
  connections?: LearntFigure;
  /** States the plan read, taken by each entry's delivery (EntryDeliveryContext.plannedStates). */
  plannedStates?: Map<string, EntryState>;
  /** The recipients this batch takes of each entry, as the plan routed them (EntryDeliveryContext.plannedRecipients); absent: all. */
  plannedRecipients?: ReadonlyMap<string, readonly string[]>;
}

export interface BatchCallbacks {
  onTransaction(id: string, outcomes: RecipientOutcome[], finals: FinalOutcome[]): void;
  onBounce(id: string, subject: string | null): void;
  onDelayWarning(id: string, waiting: string[], subject: string | null): void;
  onRemoved(id: string): void;
  onCorrupt(id: string, reason: string): void;
  /** An entry skipped, left in place: a file of it cannot be read (permission, a link, EIO). */
  onUnreadable(id: string, reason: string, exitCode: ExitCode): void;
  onWarning(message: string): void;
}

/**
 * Where a batch's sessions get their entries. `next` waits while the
 * feeder has none ready and answers undefined once it has no more;
 * `done` is told of every entry `next` gave, delivered or not, except one
 * handed back with `giveBack` (a session refused as one too many had
 * taken it): that one goes to a session waiting for an entry at once, or
 * first to the next that asks; `end` is called once the batch stops taking
 * entries (lost, refused, fatal, stopped), so that entries still queued
 * are let go and waiting sessions answered undefined.
 */
export interface EntrySource {
  next(): Promise<string | undefined>;
  done(id: string): void;
  giveBack(id: string): void;
  end(): void;
}

export interface BatchResult {
  lost: boolean;
  fatal: unknown;
  /** The smarthost refused the account (quota, AUTH, sender, TLS): the caller holds it. */
  refused: AccountRefusal | null;
}

/** What every entry delivery of a batch shares, whatever its transport. */
export function entryContextBase(
  settings: { spool: Spool; config: RuntimeConfig; now: () => number },
  shared: {
    log: DeliveryLogWriter;
    syncer: DirSyncer;
    journal: TransactionJournal;
    finished: FinishedEntries;
    attempted: Map<string, Set<string>>;
    stopping: () => boolean;
    callbacks: BatchCallbacks;
  },
): Omit<EntryDeliveryContext, 'session' | 'smarthostDisplay' | 'smarthostHost' | 'accountReplies' | 'onAccountRefused' | 'limiter'> {
  const { callbacks } = shared;
  return {
    spool: settings.spool,
    policy: settings.config.retry,
    delayWarningMs: settings.config.delayWarningMs,
    maxRecipients: settings.config.maxRecipientsPerTransaction,
    heloName: settings.config.heloName || os.hostname(),
    log: shared.log,
    syncer: shared.syncer,
    journal: shared.journal,
    finished: shared.finished,
    now: settings.now,
    attempted: shared.attempted,
    stopping: shared.stopping,
    onTransaction: callbacks.onTransaction,
    onBounce: (id, _dsnId, subject) => callbacks.onBounce(id, subject),
    onDelayWarning: (id, _dsnId, waiting, subject) => callbacks.onDelayWarning(id, waiting, subject),
    onRemoved: callbacks.onRemoved,
    onCorrupt: callbacks.onCorrupt,
    onUnreadable: callbacks.onUnreadable,
    onBusy: (id, pid) => callbacks.onWarning(`entry ${id} is busy${pid ? ` (pid ${pid})` : ''}; skipped`),
  };
}

export async function deliverBatch(
  settings: BatchSettings,
  source: EntrySource,
  attempted: Map<string, Set<string>>,
  stopped: () => boolean,
  callbacks: BatchCallbacks,
): Promise<BatchResult> {
  const { spool, config, smarthost } = settings;
  let fatal: unknown = null;
  // A failed group fsync (even one the timer started) stops the batch like any fatal error.
  const records = await openBatchRecords(spool, (err) => (fatal ??= err));
  if ('fatal' in records) return { lost: false, fatal: records.fatal, refused: null };
  const { log, syncer, journal, finished } = records;
  let lost = false;
  let refused: AccountRefusal | null = null;
  const stopping = () => stopped() || fatal !== null || lost || refused !== null;
  const ctx: Omit<EntryDeliveryContext, 'session'> = {
    ...entryContextBase(settings, { log, syncer, journal, finished, attempted, stopping, callbacks }),
    ...(settings.account === undefined ? {} : { maxRecipients: settings.account.maxRecipientsPerTransaction, account: settings.account.name }),
    recipientsPerTransaction: settings.recipientsPerTransaction,
    onWarning: callbacks.onWarning,
    smarthostDisplay: smarthost.display,
    smarthostHost: smarthost.host,
    accountReplies: settings.accountReplies ?? [],
    onAccountRefused: (refusal) => (refused ??= refusal),
    limiter: settings.limiter ?? null,
    plannedStates: settings.plannedStates,
    plannedRecipients: settings.plannedRecipients,
  };
  const connections = settings.connections;
  const allowed = () => connections?.current ?? settings.concurrency;
  const live = new Set<SmtpSession>();
  const opening = new Set<Promise<unknown>>();
  /**
   * A session refused as one too many: with others of the account open, the
   * account's figure comes down to their number (never up), kept for later
   * flushes when the reply names the limit, for this flush only when it is
   * a bare 421 (src/model/connection-cap.ts says why), and this session's
   * worker retires (true); with none open it teaches nothing (false: the
   * caller treats the smarthost as gone, as any failure to connect).
   */
  const crowdedOut = async (err: TooManySessionsError): Promise<boolean> => {
    if (connections === undefined) return false;
    // The sessions open when it came, and those still being set up once they are (they were
    // let in before this one was refused); one that ends meanwhile still counted.
    const open = new Set([...live].filter((s) => s.isOpen));
    while (opening.size > 0) await Promise.allSettled([...opening]);
    for (const s of live) if (s.isOpen) open.add(s);
    if (open.size < 1) return false;
    const max = lowerConnections(connections.current, open.size);
    if (max !== null) await connections.lower(max, err.reply, callbacks.onWarning, namesConnectionLimit(err.reply) ? undefined : 'a bare 421 may be passing');
    return true;
  };
  let active = 0;
  const worker = async () => {
    active++;
    let retired = false;
    let session: SmtpSession | null = null;
    const openSession = async () => {
      if (session?.isOpen) return session;
      if (session !== null) live.delete(session);
      session = new SmtpSession(sessionOptionsFor(config, smarthost, settings.credentials, { account: settings.account }));
      const opened = session.open();
      opening.add(opened);
      try {
        await opened;
      } finally {
        opening.delete(opened);
      }
      live.add(session);
      return session;
    };
    // One context per session, not a copy per entry.
    const sessionCtx: EntryDeliveryContext = { ...ctx, session: openSession };
    try {
      // Sessions beyond the account's figure (lowered meanwhile) end after their entry.
      while (!stopping() && active <= allowed()) {
        const id = await source.next();
        if (id === undefined) break;
        let handedBack = false;
        try {
          if (!stopping()) await deliverEntry(sessionCtx, id);
        } catch (err) {
          if (err instanceof TooManySessionsError && connections !== undefined) {
            // Out of the count at once, and its entry back to the source (to a session waiting for
            // one, if any) before anything waits, so the sessions that remain neither retire for it
            // nor wait for the planner while it sits aside.
            retired = true;
            active--;
            handedBack = true;
            source.giveBack(id);
            if (await crowdedOut(err)) break;
          }
          if (err instanceof BulkmailerError && (err.code === 'E_UNREACHABLE' || err.code === E_TOO_MANY_SESSIONS)) {
            callbacks.onWarning(err.message);
            lost = true;
          } else if (err instanceof BulkmailerError && (err.code === 'E_AUTH' || err.code === 'E_TLS')) {
            // Will not fix itself: the caller holds the account and says so.
            refused ??= { kind: err.code === 'E_AUTH' ? 'auth' : 'tls', reply: err.message, rule: null };
          } else {
            fatal ??= err;
          }
        } finally {
          if (!handedBack) source.done(id);
        }
      }
      // The sessions still waiting for an entry stop too; what is queued stays for a later pass.
      if (stopping()) source.end();
    } finally {
      if (!retired) active--;
      const last = session as SmtpSession | null;
      if (last !== null) live.delete(last);
      last?.close();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, allowed()) }, worker));
  } finally {
    fatal = await closeBatchRecords(records, fatal);
  }
  return { lost, fatal, refused };
}

/**
 * What one batch writes through: the delivery log, the group fsync of state
 * directories, the transaction journal, and the finished entries recorded
 * in it and removed later.
 */
export interface BatchRecords {
  log: DeliveryLogWriter;
  syncer: DirSyncer;
  journal: TransactionJournal;
  finished: FinishedEntries;
}

/**
 * A journal that cannot be created is the batch's fatal error: nothing may be sent without it.
 * `onSyncFailure` hears a failed group fsync as it happens (the batch stops; src/spool/dir-syncer.ts).
 */
export async function openBatchRecords(spool: Spool, onSyncFailure: (err: unknown) => void): Promise<BatchRecords | { fatal: unknown }> {
  const log = await DeliveryLogWriter.open(spool);
  try {
    const syncer = new DirSyncer({ onFailure: onSyncFailure });
    const journal = await TransactionJournal.open(spool);
    return { log, syncer, journal, finished: new FinishedEntries(spool, journal, syncer, roundLimits()) };
  } catch (err) {
    await log.close();
    return { fatal: fromFsError('cannot create the transaction journal', err) };
  }
}

/**
 * Closes a batch's records once every session has finished: the finished
 * entries are removed, then their state directories fsynced. The journal
 * goes only once every recorded outcome is durable and every finished entry
 * removed; kept, the next flush reads it.
 * Returns the batch's first error: `fatal` if set, else one met here (a
 * journal that failed included, once the removals are durable; it is kept).
 */
export async function closeBatchRecords(records: BatchRecords, fatal: unknown): Promise<unknown> {
  let first = fatal;
  let durable = true;
  await records.finished.settle().catch((err: unknown) => {
    durable = false;
    first ??= err;
  });
  await records.syncer.sync().catch((err: unknown) => {
    durable = false;
    first ??= err;
  });
  // A journal that failed after the last transaction (its last done line's write, or the fdatasync
  // `settle` waits for) stopped nothing: the entries it could not record were removed at once, and
  // the removals are durable now. Nothing is lost, but the disk failed: the flush says so.
  if (records.journal.error !== null && first === null) {
    first = fromFsError(`the transaction journal ${records.journal.file} failed (the delivered entries were removed: nothing lost)`, records.journal.error);
  }
  await records.journal.close(durable && first === null).catch((err: unknown) => (first ??= err));
  await records.log.close();
  return first;
}
