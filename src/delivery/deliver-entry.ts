/**
 * Delivering one entry: its due recipients, chunk by chunk, over one
 * session, each transaction's outcome recorded durably before the next
 * transaction on this entry starts (promise 3). Then the bounce for any
 * recipient that failed, then removal once every recipient is final.
 *
 * The entry's busy lock is held throughout, so `delete` refuses it; the
 * state is rewritten through updateEntryState, on top of the state on disk,
 * so a `hold` or `retry` from another process is kept and seen when the
 * outcome of the transaction in flight is recorded (docs/cli.md, hold). Each recipient is attempted at most once per flush, except
 * the recipients a server put off with "452 4.5.3 too many recipients":
 * they were not attempted (nothing is recorded for them), go in the next
 * transaction at once, and the account's recipients per transaction come
 * down for the rest of the flush (src/model/recipient-cap.ts).
 */
import type { Readable } from 'node:stream';
import { isEnvelopeAddress } from '../model/address.js';
import { isEntryComplete, recipientsAwaitingDsn, recipientsForDelayWarning, type EntryState } from '../model/entry-state.js';
import { applyOutcomes, markDelayWarned, markDsnQueued, type FinalOutcome, type RecipientOutcome } from '../model/transitions.js';
import { formatDuration } from '../config/duration.js';
import type { RetryPolicy } from '../model/retry-policy.js';
import {
  checkMessageOpens,
  crashPoint,
  isEntryReadError,
  enqueueMessage,
  isStateCurrent,
  entryBusyLockPath,
  messagePath,
  messageStream,
  readMessageHead,
  quarantineEntry,
  readEntryForScan,
  readWholeFileSync,
  REMOVE_ENTRY,
  removeFinishedEntry,
  toLogRecords,
  tryLock,
  updateEntryState,
  type DeliveryLogWriter,
  type DirSyncer,
  type FinishedEntries,
  type Spool,
  type TransactionJournal,
} from '../spool/index.js';
import { BulkmailerError, ExitCode, fromFsError } from '../errors.js';

import { buildDsn, headerBlock, type DsnInput } from '../message/dsn.js';
import { findAccountRefusal, type AccountRefusal, type AccountReplyRule } from './account-replies.js';
import { planTransactions } from './plan.js';
import { splitTooManyRecipients } from '../model/recipient-cap.js';
import type { LearntFigure } from './learnt-figure.js';
import type { SendingLimiter } from './sending-limiter.js';
import type { TransactionSender } from './smtp-session.js';
import { TooManySessionsError } from './classify-reply.js';
import { namesConnectionLimit } from '../model/connection-cap.js';

/** The part of the transaction journal a delivery uses. */
export type TransactionRecorder = Pick<TransactionJournal, 'begin' | 'error'>;

/** Messages up to this size are read once and kept in memory for all their chunks. */
const BUFFERED_MESSAGE_LIMIT = 1024 * 1024;

export interface EntryDeliveryContext {
  spool: Spool;
  policy: RetryPolicy;
  /** Retry time after which the sender gets one delay warning; 0: never. */
  delayWarningMs: number;
  maxRecipients: number;
  /** The account's recipients per transaction as its smarthost taught (452 4.5.3); absent: maxRecipients, nothing learnt. */
  recipientsPerTransaction?: LearntFigure;
  /** The sending account, for the delivery log; absent for direct delivery. */
  account?: string;
  /** Said to the user (the flush's warnings): what was learnt. */
  onWarning?: (message: string) => void;
  smarthostDisplay: string;
  smarthostHost: string;
  heloName: string;
  log: DeliveryLogWriter;
  /** Group fsync of the removals that record an entry's last transaction. */
  syncer: DirSyncer;
  /**
   * Where an entry whose last transaction left every recipient final is
   * recorded (a journal line) and removed later, off the transactions'
   * path; absent, or refusing (a failed journal): the entry is removed at
   * once, the removal its record.
   */
  finished?: Pick<FinishedEntries, 'finish' | 'whenRoom'>;
  /** Where each transaction is recorded, durably before its final dot (group commit): possible duplicates after a crash. */
  journal: TransactionRecorder;
  now: () => number;
  /** Recipients already attempted in this flush, per entry id. */
  attempted: Map<string, Set<string>>;
  /** True once the flush should start no new transaction. */
  stopping: () => boolean;
  /** A live session, opened (or re-opened) on demand; throws when the smarthost is gone. */
  session: () => Promise<TransactionSender>;
  /** Rules from the config, tried before the built-in table of account replies. */
  accountReplies: readonly AccountReplyRule[];
  /**
   * The smarthost refused the account (quota, rate, sender...): the refused
   * recipients stay pending, uncounted; the batch stops sending.
   */
  onAccountRefused: (refusal: AccountRefusal) => void;
  /** The account's sending limits; null when it has none (then nothing is counted). */
  limiter: SendingLimiter | null;
  /**
   * The recipients the flush's plan routed to this delivery (an account's
   * batch, or a direct delivery bin: of its domains), by entry id (the flush keeps them while the
   * entry is in the batch, so a session that hands the entry back leaves
   * them for the next); an entry not in it takes none; absent: all. A
   * recipient that became due after the plan waits for the next pass,
   * which routes it.
   */
  plannedRecipients?: ReadonlyMap<string, readonly string[]>;
  /** Applied to the message bytes of each transaction (DKIM signing); absent: sent as spooled. */
  prepareMessage?: (message: Buffer | Readable, from: string) => Buffer | Readable;
  onTransaction: (id: string, outcomes: RecipientOutcome[], finals: FinalOutcome[]) => void;
  onBounce: (id: string, dsnId: string, subject: string | null) => void;
  onDelayWarning: (id: string, dsnId: string, waiting: string[], subject: string | null) => void;
  onRemoved: (id: string) => void;
  onCorrupt: (id: string, reason: string) => void;
  /** A file of the entry cannot be read (permission, a link, EIO): it is skipped and stays as it is. */
  onUnreadable: (id: string, reason: string, exitCode: ExitCode) => void;
  onBusy: (id: string, pid: number | null) => void;
  /**
   * States the flush's plan read, by entry id: the delivery of an entry
   * takes (and drops) its own, and uses it instead of reading the file
   * again if the file is still the version read (isStateCurrent). A
   * delivery that leaves the entry in the queue puts back the state it
   * left it in (written or read by it, so stamped), for the entry's next
   * delivery in the pass; the owner of the map lets it go with the entry.
   */
  plannedStates?: Map<string, EntryState>;
}

export async function deliverEntry(ctx: EntryDeliveryContext, id: string): Promise<void> {
  const busy = tryLock(entryBusyLockPath(ctx.spool, id));
  if (!busy.acquired) {
    ctx.onBusy(id, busy.owner?.pid ?? null);
    return;
  }
  try {
    const planned = ctx.plannedStates?.get(id);
    ctx.plannedStates?.delete(id);
    let state =
      planned !== undefined && isStateCurrent(ctx.spool, planned)
        ? planned
        : await readEntryForScan(ctx.spool, id, {
            quarantine: true,
            checkMessage: false,
            onCorrupt: ctx.onCorrupt,
            onUnreadable: (_, reason, err) => ctx.onUnreadable(id, reason, err.exitCode),
            stamp: true,
          });
    if (state === null) return;
    let buffered: Buffer | null = null;
    try {
      if (state.size <= BUFFERED_MESSAGE_LIMIT) buffered = readWholeFileSync(messagePath(ctx.spool, id));
      else checkMessageOpens(ctx.spool, id);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        // One entry's message that cannot be read (a link, a permission) never stops the others.
        const failure = fromFsError(`cannot read the message of ${id}`, err);
        if (!isEntryReadError(failure)) throw failure;
        // Not planned again in this flush: another pass would only meet the same file.
        ctx.attempted.set(id, new Set(state.recipients.map((r) => r.address)));
        ctx.onUnreadable(id, failure.message, failure.exitCode);
        return;
      }
      const reason = `message file of ${id} is missing`;
      ctx.onCorrupt(id, reason);
      await quarantineEntry(ctx.spool, id, reason);
      return;
    }
    const attempted = ctx.attempted.get(id) ?? new Set<string>();
    ctx.attempted.set(id, attempted);
    const routed = ctx.plannedRecipients === undefined ? undefined : new Set(ctx.plannedRecipients.get(id));

    while (!ctx.stopping() && !state.held) {
      let chunk = nextChunk(state, attempted, ctx, routed);
      if (chunk === null) break;
      if (ctx.limiter !== null) {
        // The session first: one refused at its greeting, EHLO or AUTH (one connection too many,
        // the smarthost down) sent nothing and must count nothing against the account's limits.
        await ctx.session();
        // Reserved (durably) before the transaction: a crash counts it even if unsent.
        const reservation = ctx.limiter.reserve(chunk.length);
        if (!('persisted' in reservation)) {
          const limit = reservation.blockedBy;
          ctx.onAccountRefused({ kind: 'limit', reply: `sending limit ${limit.text} reached`, rule: limit.text, until: reservation.resumeAt });
          break;
        }
        chunk = chunk.slice(0, reservation.granted);
        await reservation.persisted;
      }
      for (const address of chunk) attempted.add(address);
      // An address that cannot go into RCPT TO (a hand-edited state) fails on
      // its own; sent along, it would make nodemailer refuse the whole envelope.
      const unusable = chunk.filter((address) => !isEnvelopeAddress(address));
      const sendable = chunk.filter((address) => isEnvelopeAddress(address));
      let outcomes: RecipientOutcome[] = unusable.map((address) => ({
        address,
        kind: 'failed',
        reply: '553 5.1.3 bad recipient address syntax (not local@domain; was the state file edited?)',
      }));
      if (sendable.length > 0) {
        // The signer runs inside sendOnce: it sees the sender as it is now.
        const from = state.from;
        try {
          outcomes.push(
            ...(await sendOnce(ctx, state, sendable, () => {
              const raw = buffered ?? messageStream(ctx.spool, id);
              return ctx.prepareMessage ? ctx.prepareMessage(raw, from) : raw;
            })),
          );
        } catch (err) {
          // A new session refused as one too many (a reconnection mid-entry):
          // nothing was sent, nothing counts; the batch gives the entry to the sessions that remain.
          if (err instanceof TooManySessionsError) for (const address of chunk) attempted.delete(address);
          throw err;
        }
      }
      // "452 4.5.3 too many recipients": not about these recipients (RFC 5321
      // 4.5.3.1.10): they go in the next transaction at once, uncounted, and
      // the account sends fewer per transaction from now on. A sending limit's
      // reservation for them stands: the ledger errs toward counting more.
      if (ctx.recipientsPerTransaction !== undefined) {
        const split = splitTooManyRecipients(outcomes, sendable.length);
        if (split.learnt !== null) {
          for (const address of split.putOff) attempted.delete(address);
          outcomes = split.standing;
          await ctx.recipientsPerTransaction.lower(split.learnt.max, split.learnt.reply, ctx.onWarning ?? (() => {}));
          if (outcomes.length === 0) continue;
        }
      }
      // A refusal of the account is no verdict on its recipients (promise 6):
      // only what still stands is recorded; the rest stays as it was.
      const refused = findAccountRefusal(outcomes, ctx.accountReplies);
      if (refused !== null) {
        for (const o of outcomes) if (!refused.standing.includes(o)) attempted.delete(o.address);
        outcomes = refused.standing;
        ctx.onAccountRefused(refused.refusal);
        if (outcomes.length === 0) break;
      }
      crashPoint('flush-after-data');
      const now = ctx.now();
      if (ctx.finished !== undefined) {
        // A transaction that finishes the entry, on the state this loop holds while the file is still
        // that version, is recorded by the journal's done line alone, without the state lock: nothing
        // is written to the state file, a `hold` or `retry` after this changes nothing the line
        // records, and the removal takes the lock. The log line goes first: the record must not outlive it.
        const result = applyOutcomes(state, outcomes, now, ctx.policy);
        if (isEntryComplete(result.state) && isStateCurrent(ctx.spool, state)) {
          ctx.log.write(toLogRecords(result.state, result.finals, ctx.smarthostDisplay, now, ctx.account));
          // A journal that failed records nothing: the removal is the record, now.
          if (!ctx.finished.finish(id, state.size)) await removeFinishedEntry(ctx.spool, id, { syncer: ctx.syncer });
          crashPoint('flush-after-state-write');
          ctx.onTransaction(id, outcomes, result.finals);
          ctx.onRemoved(id);
          // The removals behind by two rounds: this session waits for the oldest before its next entry.
          await ctx.finished.whenRoom();
          return;
        }
      }
      let finals: FinalOutcome[] = [];
      let completed: EntryState | null = null;
      const updated: EntryState | null = await updateEntryState(
        ctx.spool,
        id,
        (current) => {
          const result = applyOutcomes(current, outcomes, now, ctx.policy);
          finals = result.finals;
          if (!isEntryComplete(result.state)) return result.state;
          // The last transaction is recorded by the journal's done line (the
          // entry is removed when the batch ends: src/spool/finished-entries.ts),
          // or by removing the entry (group fsync), never by a state write that
          // would be deleted a moment later. The log line goes first: the
          // record must not outlive it.
          completed = result.state;
          ctx.log.write(toLogRecords(result.state, finals, ctx.smarthostDisplay, now, ctx.account));
          return ctx.finished?.finish(id, current.size) === true ? null : REMOVE_ENTRY;
        },
        // The state this loop holds is what it read or wrote: the file is read again only if someone replaced it since.
        { syncer: ctx.syncer, known: state },
      );
      if (completed !== null) {
        crashPoint('flush-after-state-write');
        ctx.onTransaction(id, outcomes, finals);
        ctx.onRemoved(id);
        await ctx.finished?.whenRoom();
        return;
      }
      crashPoint('flush-after-state-write');
      if (updated === null) return;
      state = updated;
      ctx.log.write(toLogRecords(state, finals, ctx.smarthostDisplay, now, ctx.account));
      ctx.onTransaction(id, outcomes, finals);
    }

    if (recipientsForDelayWarning(state, ctx.delayWarningMs).length > 0) {
      const updated = await queueDelayWarning(ctx, state, buffered);
      if (updated === null) return;
      state = updated;
    }

    if (recipientsAwaitingDsn(state).length > 0) {
      const updated = await queueBounce(ctx, state, buffered);
      if (updated === null) return;
      state = updated;
    }

    if (isEntryComplete(state)) {
      // Its final state is already durable: a lost removal is redone by the next flush.
      const gone = await updateEntryState(ctx.spool, id, (current) => (isEntryComplete(current) ? REMOVE_ENTRY : null), { known: state });
      if (gone === null) ctx.onRemoved(id);
      return;
    }
    // The entry stays: the state it was left in goes back for the next delivery of it in this pass (its
    // direct delivery after its account's, its next MX bin), used only while the file is still that version.
    ctx.plannedStates?.set(id, state);
  } finally {
    busy.lock.release();
  }
}

/**
 * Queues one DSN to the sender for every failed recipient not yet reported,
 * then marks them reported. A crash between the two queues the DSN again on
 * the next flush: a duplicate bounce, never a lost one.
 */
async function queueBounce(ctx: EntryDeliveryContext, state: EntryState, buffered: Buffer | null): Promise<EntryState | null> {
  const awaiting = recipientsAwaitingDsn(state);
  const dsnId = await queueReport(ctx, state, buffered, { failed: awaiting }, 'Undelivered Mail Returned to Sender');
  const addresses = awaiting.map((r) => r.address);
  const updated = await updateEntryState(ctx.spool, state.id, (current) => markDsnQueued(current, addresses), { known: state });
  ctx.onBounce(state.id, dsnId, state.subject);
  return updated;
}

/**
 * Queues the delay warning (RFC 3464, Action: delayed) for the recipients
 * still waiting, then records in the state file that it went. A crash
 * between the two sends it again at the entry's next attempt: a duplicate
 * warning, never a lost one; after the record, never again.
 */
async function queueDelayWarning(ctx: EntryDeliveryContext, state: EntryState, buffered: Buffer | null): Promise<EntryState | null> {
  const waiting = recipientsForDelayWarning(state, ctx.delayWarningMs);
  const delayed = { waited: formatDuration(ctx.delayWarningMs), lifetime: formatDuration(ctx.policy.lifetimeMs) };
  const dsnId = await queueReport(ctx, state, buffered, { failed: waiting, action: 'delayed', delayed }, 'Delayed Mail (still being retried)');
  crashPoint('flush-after-delay-warning-queued');
  const updated = await updateEntryState(ctx.spool, state.id, markDelayWarned, { known: state });
  ctx.onDelayWarning(state.id, dsnId, waiting.map((r) => r.address), state.subject);
  return updated;
}

/** Builds a DSN about `state` and queues it, durably, to its sender with the null sender. Returns its id. */
async function queueReport(
  ctx: EntryDeliveryContext,
  state: EntryState,
  buffered: Buffer | null,
  report: Pick<DsnInput, 'failed' | 'action' | 'delayed'>,
  subject: string,
): Promise<string> {
  const original = buffered ?? (await readMessageHead(ctx.spool, state.id));
  const dsn = buildDsn({
    entry: state,
    ...report,
    originalHeaders: headerBlock(original),
    reportingMta: ctx.heloName,
    remoteMta: ctx.smarthostHost,
    now: ctx.now(),
  });
  const queued = await enqueueMessage(ctx.spool, { from: '', recipients: [state.from], message: dsn, subject, kind: 'dsn' });
  return queued.id;
}

/**
 * Sends one transaction. Its journal line goes first, and the final dot
 * waits until that line is durable (the message stream ends only then), so
 * a crash at any moment after the dot leaves the transaction findable; the
 * shared fdatasync runs while MAIL, RCPT and DATA go back and forth.
 *
 * A connection found dead before the transaction started (E_NOT_STARTED:
 * typically a reused connection the smarthost had closed) is reopened and
 * the transaction tried once more; dead again, the smarthost counts as gone
 * (E_UNREACHABLE), and no attempt is recorded. A journal that cannot be
 * made durable stops the batch before any dot is sent.
 */
async function sendOnce(
  ctx: EntryDeliveryContext,
  state: EntryState,
  to: string[],
  message: () => Buffer | Readable,
): Promise<RecipientOutcome[]> {
  const attempts = new Map(state.recipients.map((r) => [r.address, r.attempts]));
  const journaled = ctx.journal.begin(
    state.id,
    to.map((address) => ({ address, attempts: attempts.get(address) ?? 0 })),
    ctx.now(),
  );
  for (let round = 0; ; round++) {
    const session = await ctx.session();
    try {
      const outcomes = await session.send({ from: state.from, to, size: state.size, message: message(), ready: journaled });
      if (ctx.journal.error !== null) {
        session.close(); // mid-DATA without its dot: the connection is unusable
        throw fromFsError('cannot record the transaction in the journal', ctx.journal.error);
      }
      // Every recipient put off with "432 4.3.2" (Exchange Online's answer to a
      // mailbox's connection too many): the session was refused, not the mail.
      // The reply taught the figure as it came, with the command it answered.
      const crowded = outcomes.length > 0 && outcomes.every((o) => o.kind === 'deferred' && namesConnectionLimit(o.reply));
      if (crowded) {
        session.close();
        throw new TooManySessionsError(ctx.smarthostDisplay, outcomes[0]!.reply);
      }
      return outcomes;
    } catch (err) {
      if (!(err instanceof BulkmailerError && err.code === 'E_NOT_STARTED')) throw err;
      if (round > 0) {
        throw new BulkmailerError('E_UNREACHABLE', `${ctx.smarthostDisplay}: ${err.message}`, { exitCode: ExitCode.tempFail });
      }
    }
  }
}

function nextChunk(state: EntryState, attempted: Set<string>, ctx: EntryDeliveryContext, routed: ReadonlySet<string> | undefined): string[] | null {
  const fresh = {
    ...state,
    recipients: state.recipients.filter((r) => !attempted.has(r.address) && (routed === undefined || routed.has(r.address))),
  };
  const chunks = planTransactions(fresh, ctx.now(), ctx.recipientsPerTransaction?.current ?? ctx.maxRecipients);
  return chunks[0] ?? null;
}

