/**
 * One flush: the engine under both `bulkmailer flush` (cron) and the agent.
 *
 *   1. take the instance lock, or answer 'busy' at once (promise 5)
 *   2. repair the traces of crashes (tmp files, interrupted commits, orphans, dead locks)
 *   3. plan and deliver as a pipeline, a window of the queue at a time
 *      (PLAN_WINDOW entries): which entries have due recipients (nothing due
 *      in the whole queue: done, no network); the accounts (and direct
 *      delivery) a window needs are prepared when the planner first meets
 *      them: hold, limits, probe of the smarthosts in order
 *   4. deliver as the planner feeds (src/delivery/deliver-batch.ts): per
 *      account up to `concurrency` sessions, each reused for many
 *      transactions across windows and taking whole entries (so the
 *      transactions of one entry never overlap: promise 3); the planner
 *      reads on only while less than a window waits for delivery
 *   5. nothing due could go anywhere in the whole first pass: 'offline' (or
 *      'held'), nothing counted (promise 4)
 *   6. another pass: entries that became due during the pass (new messages,
 *      bounces) get one, so a cron flush leaves an empty queue
 *
 * The AbortSignal stops new transactions; the ones in flight finish and are
 * recorded. A smarthost that vanishes mid-run stops the workers that lose
 * it, leaving their recipients untouched (no attempt counted).
 *
 * Account holds (promise 6, src/model/account-hold.ts): a held account is
 * not contacted until its hold lifts; a refusal of the account during the
 * run (quota, rate, AUTH, sender, TLS) or a smarthost name that does not
 * resolve while the internet answers records a hold in the spool and ends
 * the run as 'held', every recipient still pending and nothing counted.
 */
import { loadRuntimeConfig, requireSmarthosts, type RuntimeConfig } from '../config/runtime.js';
import { accountForSender, resolveAccount, type AccountSettings } from '../config/accounts.js';
import type { IsOnlineFn } from '../connectivity/internet.js';
import { holdExitCode, type AccountHold } from '../model/account-hold.js';
import { statfsSync } from 'node:fs';
import { BulkmailerError, ExitCode } from '../errors.js';
import { dueRecipients, isEntryComplete, isFinalStatus, recipientsAwaitingDsn, type EntryState } from '../model/entry-state.js';
import {
  instanceLockPath,
  listStateFileIdsIncludingFinished,
  openSpool,
  readEntryForScan,
  REMOVE_ENTRY,
  updateEntryState,
  repairSpool,
  settleCommits,
  tryLock,
  type HeldLock,
  type RepairReport,
  type Spool,
} from '../spool/index.js';
import type { BatchCallbacks } from '../delivery/deliver-batch.js';
import type { MxWork } from '../delivery/mx-plan.js';
import type { ProbeResult } from '../connectivity/probe-smarthost.js';
import { Backlog, EntryFeed } from './entry-feed.js';
import type { AccountReplyRule } from '../delivery/account-replies.js';
import { FlushEvents, emptyFlushResult, type FlushResult } from './flush-events.js';
import { routeFor, routesUseAccounts } from '../config/routes.js';
import { domainOf } from '../model/address.js';
import { QUEUE_ID_LENGTH } from '../model/queue-id.js';
import type { MxTransport } from './mx-transport.js';
import { isAccountUp, prepareAccountRun, recordProbes, type AccountRun, type AccountRunContext } from './account-run.js';

export interface FlushOptions {
  home: string;
  config?: RuntimeConfig;
  events?: FlushEvents;
  signal?: AbortSignal;
  /** The caller (the agent) already holds the instance lock. */
  instanceLockHeld?: boolean;
  now?: () => number;
  /** Test seam: the internet check that tells a misspelled smarthost name from being offline. */
  isOnline?: IsOnlineFn;
  /** Internal: entries per planning window (default PLAN_WINDOW); tests use small ones to cross window boundaries. */
  planWindow?: number;
}

/**
 * Entries the planner reads before it feeds their delivery, and the bound
 * on planned entries waiting for it: the planner reads the next window
 * only once fewer than this many wait, so at most about twice this many
 * planned entries (a small record and the parsed state each, ~1-2 KB for
 * 5 recipients) are in memory however long the queue, and the first
 * message goes out after one window is read, not the whole queue.
 */
const PLAN_WINDOW = 1000;

/**
 * The first window of a pass is this short: the accounts it needs are
 * probed, the delivery code loaded and the first connections opened after
 * this many state reads, not a whole window's (about 45 ms at 1,000 on the
 * reference machine); the rest of the queue is read while they work.
 */
const FIRST_WINDOW = 100;

/** State files the planner reads before it lets pending I/O (the sessions' replies) run. */
const PLAN_YIELD_EVERY = 50;

/** Passes after the first, for entries that became due while a pass ran. */
const MAX_EXTRA_PASSES = 10;

/**
 * Below this much free space in the spool, a flush does not start: a
 * transaction whose outcome cannot be written would be sent again by every
 * flush for as long as the disk stays full (Postfix's queue_minfree, for
 * the sending side). A few state files' worth; ENOSPC later in the run still
 * stops it after at most the transactions in flight.
 */
const MIN_FREE_BYTES = 64 * 1024;

function checkFreeSpace(spool: Spool): void {
  const stats = statfsSync(spool.state);
  const free = Number(stats.bavail) * Number(stats.bsize);
  if (free < MIN_FREE_BYTES) {
    throw new BulkmailerError(
      'E_DISK_FULL',
      `not delivering: disk full (${free} bytes free for the spool in ${spool.state}); delivery outcomes could not be recorded`,
      { exitCode: ExitCode.cantCreate, temporary: true },
    );
  }
}

interface PlannedEntry {
  id: string;
  due: number;
  /** A bounce report (DSN) this program generated, not a message of the user's. */
  bounce: boolean;
  /**
   * Due recipients per sending account (routes `smarthost` and account
   * names), by account name: what that account's batch takes of the entry
   * (BatchSettings.plannedRecipients), its routes worked out once, here.
   */
  accounts: Map<string, string[]>;
  /** The account the entry's sender uses: where a bounce-only entry goes. */
  senderAccount: string;
  /** Due recipients routed to `mx` (direct delivery). */
  mx: string[];
  /** Failed recipients whose bounce is not queued yet. */
  awaitingDsn: boolean;
}

function heldResult(hold: AccountHold, started: number, due: number): FlushResult {
  const result = { ...emptyFlushResult('held', started), hold, exitCode: holdExitCode(hold.kind) };
  result.due = result.remaining = due;
  return result;
}

export async function flushQueue(options: FlushOptions): Promise<FlushResult> {
  const started = performance.now();
  const events = options.events ?? new FlushEvents();
  const now = options.now ?? Date.now;
  const config = options.config ?? loadRuntimeConfig(options.home);
  const spool = await openSpool(options.home);

  let instance: HeldLock | null = null;
  if (!options.instanceLockHeld) {
    const attempt = tryLock(instanceLockPath(spool));
    if (!attempt.acquired) {
      const result = { ...emptyFlushResult('busy', started), busyPid: attempt.owner?.pid ?? null };
      events.emit('end', result);
      return result;
    }
    instance = attempt.lock;
  }
  // Every quarantine of this run, whether found while planning or while delivering.
  const cleanups: (() => void)[] = [];
  let quarantined = 0;
  const countQuarantine = () => void quarantined++;
  events.on('corrupt', countQuarantine);
  // Entries skipped because they cannot be read: the worst one's code is the run's, if it is otherwise done.
  let unreadable = 0;
  let unreadableExit: ExitCode | null = null;
  const countUnreadable = (_id: string, _reason: string, exitCode: ExitCode) => {
    unreadable++;
    if (unreadableExit !== ExitCode.noPerm) unreadableExit = exitCode;
  };
  events.on('unreadable', countUnreadable);
  try {
    const repair = await repairSpool(spool, now(), { onCrash: config.onCrash });
    for (const warning of repair.warnings) events.emit('warning', warning);
    reportCommitsCompleted(repair.commitsCompleted, events);
    reportInterrupted(repair.interrupted, events);
    const result = await runPasses(spool, config, events, options, now, started, cleanups);
    result.quarantined = quarantined;
    result.unreadable = unreadable;
    if (result.exitCode === 0 && unreadableExit !== null) result.exitCode = unreadableExit;
    // The commits of the DSNs it queued finish their after-work (docs/spool.md, step 6) before it ends.
    await settleCommits();
    events.emit('end', result);
    return result;
  } finally {
    for (const cleanup of cleanups) cleanup();
    events.off('corrupt', countQuarantine);
    events.off('unreadable', countUnreadable);
    instance?.release();
  }
}

/** Enqueues a crash stopped just before their commit (possibly acknowledged already), which repair completed: a line each. */
export function reportCommitsCompleted(ids: readonly string[], events: FlushEvents): void {
  for (const id of ids) {
    events.emit('warning', `a crash interrupted the queueing of ${id} after its message and envelope were on disk: repair completed it, and it is queued`);
  }
}

/** Possible duplicates found by recovery: an event each, and a warning line for the CLI and the agent's log. */
export function reportInterrupted(interrupted: RepairReport['interrupted'], events: FlushEvents): void {
  for (const t of interrupted) {
    events.emit('interrupted', t);
    const then = t.held ? `entry held for review (bulkmailer release ${t.id})` : 'sending again';
    events.emit(
      'warning',
      `a crash interrupted a transaction of ${t.id}: ${t.recipients.join(', ')} may have received it already (possible duplicate); ${then}`,
    );
  }
}

/** Entries already named unreadable in a run (planning runs several times per flush): each is named once. */
const unreadableNamed = new WeakMap<FlushEvents, Set<string>>();

function reportUnreadable(events: FlushEvents, id: string, reason: string, exitCode: ExitCode): void {
  let named = unreadableNamed.get(events);
  if (named === undefined) unreadableNamed.set(events, (named = new Set()));
  if (named.has(id)) return;
  named.add(id);
  events.emit('unreadable', id, reason, exitCode);
}

/** What the planner found in one window of the queue. */
interface Window {
  /** Entries with due recipients (or a bounce to queue), in queue order. */
  entries: PlannedEntry[];
  /** Their parsed states, by id, for their delivery (read with a stamp: EntryDeliveryContext.plannedStates). */
  states: Map<string, EntryState>;
}

/** The earlier of two times (ISO strings), null meaning none. */
function earlier(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return Date.parse(b) < Date.parse(a) ? b : a;
}

/**
 * What the run owes an entry, each time the planner reads it: its
 * recipients that wait (due and not attempted in this run, or attempted
 * and not final: deferred, or refused with the account); null once the
 * entry is no longer the queue's to count (quarantined, unreadable). 0 for
 * an entry found complete.
 */
type Owed = (id: string, owed: number | null) => void;

/**
 * Reads one window of the queue (ids in queue order) and plans it: which
 * entries have due recipients not yet attempted in this run, and by which
 * transport. Complete entries left by a crash are removed, bad ones
 * reported (and quarantined); `later` hears each deferred recipient's next
 * attempt time that is not due yet, `owed` what waits of every entry read.
 */
async function planWindow(
  spool: Spool,
  config: RuntimeConfig,
  ids: readonly string[],
  attempted: Map<string, Set<string>>,
  now: number,
  events: FlushEvents,
  later: (at: string) => void,
  owed: Owed,
): Promise<Window> {
  const window: Window = { entries: [], states: new Map() };
  const onCorrupt = (id: string, reason: string) => events.emit('corrupt', id, reason);
  const onUnreadable = (id: string, reason: string, err: BulkmailerError) => reportUnreadable(events, id, reason, err.exitCode);
  for (const [i, id] of ids.entries()) {
    // State reads are synchronous: let the sessions' replies in between, so that they do not wait for a whole window.
    if (i % PLAN_YIELD_EVERY === PLAN_YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    const state = await readEntryForScan(spool, id, { quarantine: true, checkMessage: false, onCorrupt, onUnreadable, stamp: true });
    if (state === null) {
      owed(id, null);
      continue;
    }
    if (isEntryComplete(state)) {
      // Finished but not removed: a crash between the last state write and removal.
      const gone = await updateEntryState(spool, id, (current) => (isEntryComplete(current) ? REMOVE_ENTRY : null));
      if (gone === null) events.emit('entry-removed', id);
      owed(id, 0);
      continue;
    }
    const done = attempted.get(id);
    const due = done === undefined ? dueRecipients(state, now) : dueRecipients(state, now).filter((r) => !done.has(r.address));
    // Attempted in this run and not final: deferred, or refused with the account (an AUTH that failed) after it was taken.
    let tried = 0;
    if (done !== undefined) for (const r of state.recipients) if (done.has(r.address) && !isFinalStatus(r.status)) tried++;
    owed(id, due.length + tried);
    const awaitingDsn = recipientsAwaitingDsn(state).length > 0;
    if (due.length > 0 || awaitingDsn) {
      const senderAccount = accountForSender(config, state.from);
      const entry: PlannedEntry = { id, due: due.length, bounce: state.kind === 'dsn', accounts: new Map(), senderAccount, mx: [], awaitingDsn };
      for (const r of due) {
        const transport = transportOf(config, senderAccount, r.address);
        if (transport === 'mx') entry.mx.push(r.address);
        else {
          const list = entry.accounts.get(transport);
          if (list === undefined) entry.accounts.set(transport, [r.address]);
          else list.push(r.address);
        }
      }
      window.entries.push(entry);
      window.states.set(id, state);
    }
    if (!state.held) {
      for (const r of state.recipients) {
        if (r.status !== 'deferred' || r.nextAttemptAt === null || Date.parse(r.nextAttemptAt) <= now) continue;
        later(r.nextAttemptAt);
      }
    }
  }
  return window;
}

/**
 * The queue's ids in queue order, a window at a time, the first one at
 * most `firstSize` long. The listing is kept
 * for the whole pass packed in one string of fixed-width ids: 1.7 MB at
 * 100,000 entries, where an array of 100,000 strings is ~8 MB of live heap,
 * which V8 also counts when it decides how far to let the heap grow.
 */
async function* windowsOf(spool: Spool, size: number, firstSize: number): AsyncGenerator<string[]> {
  const packed = (await listStateFileIdsIncludingFinished(spool)).join('');
  const count = packed.length / QUEUE_ID_LENGTH;
  for (let first = 0; first < count; ) {
    const end = Math.min(count, first + (first === 0 ? Math.min(size, firstSize) : size));
    const ids: string[] = [];
    for (let i = first; i < end; i++) ids.push(packed.slice(i * QUEUE_ID_LENGTH, (i + 1) * QUEUE_ID_LENGTH));
    yield ids;
    first = end;
  }
}

/**
 * The transport of one recipient: `mx`, or the name of the account that
 * sends it. A route names `mx`, an account, or `smarthost`: the account
 * the sender chooses (src/config/accounts.ts).
 */
function transportOf(config: RuntimeConfig, senderAccount: string, address: string): string {
  const route = config.routes.single ? config.routes.fallback : routeFor(config.routes, domainOf(address));
  return route === 'smarthost' ? senderAccount : route;
}

/** Entries with nothing due but a bounce to queue go with their sender's account when routes use accounts, else direct. */
function accountTakes(p: PlannedEntry, account: string, accountsRouted: boolean): boolean {
  return p.accounts.has(account) || (bounceOnly(p) && account === p.senderAccount && accountsRouted);
}

function mxTakes(p: PlannedEntry, accountsRouted: boolean): boolean {
  return p.mx.length > 0 || (bounceOnly(p) && !accountsRouted);
}

function bounceOnly(p: PlannedEntry): boolean {
  return p.awaitingDsn && p.mx.length === 0 && p.accounts.size === 0;
}

/** The accounts the plan needs: every account with due recipients, and the senders' accounts of bounce-only entries. */
function accountsNeeded(plan: readonly PlannedEntry[], accountsRouted: boolean): string[] {
  const names = new Set<string>();
  for (const p of plan) {
    for (const name of p.accounts.keys()) names.add(name);
    if (bounceOnly(p) && accountsRouted) names.add(p.senderAccount);
  }
  return [...names];
}

async function runPasses(
  spool: Spool,
  config: RuntimeConfig,
  events: FlushEvents,
  options: FlushOptions,
  now: () => number,
  started: number,
  /** Run by the caller when the run ends, however it ends (the send ledgers' files). */
  cleanups: (() => void)[],
): Promise<FlushResult> {
  const signal = options.signal;
  const windowSize = Math.max(1, options.planWindow ?? PLAN_WINDOW);
  const attempted = new Map<string, Set<string>>();
  const accountsRouted = routesUseAccounts(config.routes);
  const context: AccountRunContext = { spool, config, events, now, isOnline: options.isOnline, cleanups };
  const runs = new Map<string, AccountRun>();
  const noWayOut = new Set<string>();
  let probes: ProbeResult[] = [];
  /**
   * Prepares the accounts a window needs that are not prepared yet, side by
   * side (its hold, its limits, its probe): an account first needed further
   * down the queue, or in a later pass (a bounce goes through the default
   * account), is prepared when the planner meets it.
   */
  const prepareNeeded = async (entries: readonly PlannedEntry[]): Promise<void> => {
    const fresh = accountsNeeded(entries, accountsRouted).filter((name) => !runs.has(name) && !noWayOut.has(name));
    for (const name of fresh) {
      if (resolveAccount(config, name).smarthosts.length > 0) continue;
      noWayOut.add(name);
      events.emit('warning', `account ${name} has no smarthost: its recipients wait (bulkmailer config set smarthost URL)`);
    }
    const prepared = await Promise.all(
      fresh.filter((name) => !noWayOut.has(name)).map((name) => prepareAccountRun(context, resolveAccount(config, name))),
    );
    for (const run of prepared) {
      runs.set(run.account.name, run);
      if (run.configError !== null) events.emit('warning', `account ${run.account.name}: ${run.configError.message}; its mail waits`);
    }
    if (prepared.some((r) => r.probes.length > 0)) probes = await recordProbes(spool, [...runs.values()]);
  };
  let mx: MxTransport | null = null;
  let mxPrepared = false;
  const prepareMx = async (): Promise<void> => {
    mxPrepared = true;
    const { MxTransport } = await import('./mx-transport.js');
    const setup = await MxTransport.prepare(spool, config, now, options.isOnline);
    if (setup.online) mx = setup.transport;
    else events.emit('warning', `direct delivery is offline: ${setup.detail}`);
  };
  const up = () => [...runs.values()].filter(isAccountUp);
  const holds = () => [...runs.values()].flatMap((r) => (r.hold === null ? [] : [r.hold]));
  const label = () => {
    const ways = up().map((r) => r.smarthost!.display);
    return ways.length > 0 ? ways.join(', ') : 'direct delivery (MX)';
  };
  const unanswered = new Set<string>();
  /** Once some way out works: each account whose smarthosts did not answer is named once. */
  const warnUnanswered = () => {
    for (const run of runs.values()) {
      if (run.smarthost === null && run.hold === null && run.probes.length > 0 && (runs.size > 1 || mx !== null) && !unanswered.has(run.account.name)) {
        unanswered.add(run.account.name);
        events.emit('warning', `account ${run.account.name}: no smarthost answered; its recipients wait`);
      }
    }
  };

  const result: FlushResult = { ...emptyFlushResult('done', started) };
  // What the run keeps per entry is dropped when the entry is removed (onRemoved), so that a
  // drain's memory does not grow with the queue: only entries still in it are remembered.
  const messages = new Set<string>();
  let removedMessages = 0;
  // Bounce reports are counted apart from the user's messages (the summary says which is which).
  const bounceIds = new Set<string>();
  /**
   * What waits of each entry the planner read, as it last read it, less the
   * recipients made final since (owing), and their sum (`remaining` at the
   * end). Counted from the entry's state at each reading, not from which
   * account takes it in which pass: a recipient left for a later pass is
   * counted even if no later pass can take it (its account lost meanwhile,
   * or first needed, and down, in a later pass), and none is counted twice.
   */
  const owing = new Map<string, number>();
  let owedTotal = 0;
  const setOwed = (id: string, now: number) => {
    const before = owing.get(id) ?? 0;
    if (now === before) return;
    if (now === 0) owing.delete(id);
    else owing.set(id, now);
    owedTotal += now - before;
  };
  /** Entries whose message could not be read when delivered: skipped for the rest of the run, not still due. */
  const unreadableIds = new Set<string>();
  /** The planner's reading: recipients it had not counted yet are due in this run. */
  const owed: Owed = (id, now) => {
    const before = owing.get(id) ?? 0;
    if (now === null || unreadableIds.has(id)) {
      // In corrupt/ or unreadable: no longer the queue's to count, nor "still due".
      result.due -= before;
      setOwed(id, 0);
      return;
    }
    if (now > before) result.due += now - before;
    setOwed(id, now);
  };
  // The first error that must end the run (a full disk, a bug): every
  // session finishes its transaction in flight and stops first, so the
  // instance lock is never released under one still writing state.
  let fatal: unknown = null;
  const stopping = () => signal?.aborted === true || fatal !== null;
  /** The batch callbacks of one transport; `transport` names it in transaction events. */
  const callbacksFor = (transport: string): BatchCallbacks => ({
    onTransaction(id, outcomes, finals) {
      if (bounceIds.has(id)) {
        for (const o of outcomes) {
          if (o.kind === 'sent') result.bouncesSent++;
          else result.bouncesUnsent++;
        }
      } else {
        messages.add(id);
        for (const o of outcomes) {
          if (o.kind === 'sent') result.sent++;
          else if (o.kind === 'failed') result.failed++;
          else result.deferred++;
        }
        // Expiry turns a deferral into a failure: count it once, as failed.
        for (const f of finals) if (f.expired) (result.deferred--, result.failed++);
      }
      if (finals.length > 0) setOwed(id, Math.max(0, (owing.get(id) ?? 0) - finals.length));
      events.emit('transaction', { id, smarthost: transport, outcomes });
    },
    onBounce(id, subject) {
      result.bounces++;
      events.emit('bounce', id, subject);
    },
    onDelayWarning(id, waiting, subject) {
      events.emit('delay-warning', id, waiting, subject);
    },
    onRemoved(id) {
      if (messages.delete(id)) removedMessages++;
      bounceIds.delete(id);
      attempted.delete(id);
      setOwed(id, 0);
      events.emit('entry-removed', id);
    },
    onCorrupt(id, reason) {
      owed(id, null);
      events.emit('corrupt', id, reason);
    },
    onUnreadable(id, reason, exitCode) {
      // Skipped, as at planning: the run does not count it as still due (its line says why it stays).
      unreadableIds.add(id);
      owed(id, null);
      reportUnreadable(events, id, reason, exitCode);
    },
    onWarning(message) {
      events.emit('warning', message);
    },
  });

  /** Feeds that have stopped taking entries (their account lost or refused) are not fed again in the pass. */
  let lanes = new Map<string, Lane>();
  /**
   * The account that delivers an entry in this pass: its sender's account
   * first, then any other account up that has recipients of it. One
   * account per entry per pass (the transactions of an entry never
   * overlap: promise 3); an entry split over two accounts by routes gets
   * its other account in the next pass.
   */
  const assignedAccount = (p: PlannedEntry): string | null => {
    for (const name of [p.senderAccount, ...p.accounts.keys()]) {
      const run = runs.get(name);
      if (run !== undefined && isAccountUp(run) && lanes.get(name)?.feed.ended !== true && accountTakes(p, name, accountsRouted)) return name;
    }
    return null;
  };

  // Loaded only when there is work: a cron flush of an empty queue skips nodemailer.
  interface Delivery {
    deliverBatch: typeof import('../delivery/deliver-batch.js').deliverBatch;
    rulesOf: (account: AccountSettings) => AccountReplyRule[];
  }
  let delivery: Promise<Delivery> | null = null;
  const loadDelivery = (): Promise<Delivery> =>
    (delivery ??= (async () => {
      const [{ deliverBatch }, { parseAccountReplyRules }] = await Promise.all([
        import('../delivery/deliver-batch.js'),
        import('../delivery/account-replies.js'),
      ]);
      const replyRules = new Map<string, AccountReplyRule[]>();
      const rulesOf = (account: AccountSettings) => {
        let rules = replyRules.get(account.name);
        if (rules === undefined) replyRules.set(account.name, (rules = parseAccountReplyRules(account.accountReplies)));
        return rules;
      };
      return { deliverBatch, rulesOf };
    })());

  /**
   * One pass: the planner walks the queue a window at a time and feeds each
   * planned entry to its account's batch (started when first needed, its
   * sessions open across windows) or to direct delivery, waiting while a
   * window's worth of entries waits for delivery. An entry with recipients
   * of both goes to direct delivery once its account's batch is done with it.
   */
  const runPass = async (pass: number): Promise<PassScan> => {
    const scan: PassScan = { planned: 0, plannedDue: 0, workable: 0, nextAttemptAt: null, mxNeeded: false };
    const backlog = new Backlog();
    const wake = () => backlog.wake();
    signal?.addEventListener('abort', wake);
    const plannedStates = new Map<string, EntryState>();
    /**
     * The recipients the plan gave each entry's account: its batch takes only these. Kept with one
     * route and one account too: a batch that sent a recipient made due after the plan would take off
     * the count of what waits one it never counted (remaining too low, 'done' early).
     */
    const plannedRecipients = new Map<string, readonly string[]>();
    /** The recipients for direct delivery of entries now in an account's batch. */
    const mxAfter = new Map<string, string[]>();
    lanes = new Map();
    const laneRuns: Promise<void>[] = [];
    let mxQueue: MxWork[] = [];
    let mxRunning: Promise<void> | null = null;
    /** The planner or an account's batch may still hand direct delivery more. */
    let feeding = true;
    let spaceChecked = false;
    let startEmitted = false;

    /** Runs direct delivery over what waits for it: a window's worth at a time, the rest once planning is over. */
    const kickMx = (): void => {
      if (mxRunning !== null || mxQueue.length === 0) return;
      const transport = mx;
      if (transport === null || stopping()) {
        for (const w of mxQueue) plannedStates.delete(w.id);
        backlog.remove(mxQueue.length);
        mxQueue = [];
        return;
      }
      if (feeding && mxQueue.length < windowSize) return;
      const work = mxQueue;
      mxQueue = [];
      mxRunning = (async () => {
        try {
          const batch = await transport.runPass(work, attempted, stopping, callbacksFor('direct delivery (MX)'), plannedStates);
          if (batch.fatal !== null) fatal ??= batch.fatal;
          if (batch.offline) mx = null;
          // Whatever was not attempted (a destination down) waits for a later flush, not another pass.
          for (const w of work) {
            const done = attempted.get(w.id) ?? new Set<string>();
            for (const address of w.recipients) done.add(address);
            attempted.set(w.id, done);
          }
        } finally {
          // The states of entries no channel took (a destination down, a stop) are let go with their work.
          for (const w of work) plannedStates.delete(w.id);
          backlog.remove(work.length);
          mxRunning = null;
          kickMx();
        }
      })();
    };
    const toMx = (work: MxWork): void => {
      mxQueue.push(work);
      backlog.add();
      kickMx();
    };
    /** An entry leaves its account's batch (delivered, or let go by a batch that stopped). */
    const leaveLane = (id: string): void => {
      plannedRecipients.delete(id);
      const recipients = mxAfter.get(id);
      mxAfter.delete(id);
      // Direct delivery takes the state the account's delivery left (not read again if still current).
      if (recipients !== undefined && mx !== null) toMx({ id, recipients });
      else plannedStates.delete(id);
      backlog.remove();
    };
    const laneFor = async (name: string): Promise<Lane> => {
      const existing = lanes.get(name);
      if (existing !== undefined) return existing;
      const { deliverBatch, rulesOf } = await loadDelivery();
      const run = runs.get(name)!;
      const smarthost = run.smarthost!;
      const lane: Lane = { feed: new EntryFeed(leaveLane) };
      lanes.set(name, lane);
      laneRuns.push(
        (async () => {
          const batch = await deliverBatch(
            {
              spool,
              config,
              smarthost,
              credentials: run.credentials,
              concurrency: run.account.concurrency,
              now,
              accountReplies: rulesOf(run.account),
              limiter: run.limiter,
              account: run.account,
              recipientsPerTransaction: run.recipientsPerTransaction ?? undefined,
              connections: run.connections ?? undefined,
              plannedStates,
              plannedRecipients,
            },
            lane.feed,
            attempted,
            stopping,
            callbacksFor(smarthost.display),
          );
          lane.feed.end();
          if (batch.lost) run.lost = true;
          if (batch.fatal !== null) fatal ??= batch.fatal;
          if (batch.refused !== null && fatal === null) await run.recordHold(batch.refused);
        })(),
      );
      return lane;
    };

    try {
      for await (const ids of windowsOf(spool, windowSize, FIRST_WINDOW)) {
        await backlog.below(windowSize, stopping);
        if (stopping()) break;
        const window = await planWindow(spool, config, ids, attempted, now(), events, (at) => (scan.nextAttemptAt = earlier(scan.nextAttemptAt, at)), owed);
        if (window.entries.length === 0) continue;
        scan.planned += window.entries.length;
        for (const p of window.entries) scan.plannedDue += p.due;
        if (pass === 0 && !spaceChecked) (checkFreeSpace(spool), (spaceChecked = true));
        // The delivery code loads while the accounts are probed (its module files are read off the main thread).
        const loading = loadDelivery();
        loading.catch(() => {}); // awaited below; no unhandled rejection if preparing throws first
        await prepareNeeded(window.entries);
        await loading;
        if (!mxPrepared && window.entries.some((p) => mxTakes(p, accountsRouted))) await prepareMx();
        if (window.entries.some((p) => mxTakes(p, accountsRouted))) scan.mxNeeded = true;
        let dueEntries = 0;
        let dueRecipients = 0;
        const feeds: (() => Promise<void>)[] = [];
        for (const p of window.entries) {
          const name = assignedAccount(p);
          const direct = mx !== null && mxTakes(p, accountsRouted);
          if (name === null && !direct) continue;
          const work = (name === null ? 0 : (p.accounts.get(name)?.length ?? 0)) + (mx !== null ? p.mx.length : 0);
          dueEntries++;
          dueRecipients += work;
          if (p.bounce) bounceIds.add(p.id);
          const state = window.states.get(p.id);
          if (name !== null) {
            feeds.push(async () => {
              const lane = await laneFor(name);
              if (direct) mxAfter.set(p.id, p.mx);
              if (state !== undefined) plannedStates.set(p.id, state);
              plannedRecipients.set(p.id, p.accounts.get(name) ?? []);
              backlog.add();
              if (!lane.feed.push(p.id)) leaveLane(p.id);
            });
          } else {
            feeds.push(async () => {
              if (state !== undefined) plannedStates.set(p.id, state);
              toMx({ id: p.id, recipients: p.mx });
            });
          }
        }
        if (dueEntries === 0) continue;
        if (pass > 0 && !spaceChecked) (checkFreeSpace(spool), (spaceChecked = true));
        scan.workable += dueEntries;
        if (!startEmitted) {
          startEmitted = true;
          result.smarthost ??= label();
          warnUnanswered();
          events.emit('start', { smarthost: label(), dueEntries, dueRecipients, pass });
        } else {
          warnUnanswered();
          events.emit('planned', { dueEntries, dueRecipients, pass });
        }
        for (const feed of feeds) await feed();
      }
    } finally {
      for (const lane of lanes.values()) lane.feed.close();
      await Promise.all(laneRuns);
      feeding = false;
      kickMx();
      while (mxRunning !== null) await mxRunning;
      signal?.removeEventListener('abort', wake);
    }
    return scan;
  };

  let scan: PassScan | null = null;
  try {
    for (let pass = 0; pass <= MAX_EXTRA_PASSES && !stopping(); pass++) {
      scan = await runPass(pass);
      if (pass === 0 && scan.planned === 0) return { ...emptyFlushResult('done', started), nextAttemptAt: scan.nextAttemptAt };
      if (pass === 0 && scan.workable === 0 && !stopping()) {
        // No way out for anything due: say why, nothing attempted or counted (promise 4).
        if (runs.size === 0 && noWayOut.size > 0 && !scan.mxNeeded) requireSmarthosts(config); // only the default account can lack one
        const misconfigured = [...runs.values()].flatMap((r) => (r.configError === null ? [] : [r.configError]));
        if (misconfigured.length > 0 && up().length === 0 && mx === null) throw misconfigured[0];
        const hold = holds()[0];
        if (hold !== undefined) return { ...heldResult(hold, started, scan.plannedDue), probes, holds: holds() };
        events.emit('offline', probes);
        const offline = { ...emptyFlushResult('offline', started), probes };
        offline.due = offline.remaining = scan.plannedDue;
        offline.nextAttemptAt = scan.nextAttemptAt;
        return offline;
      }
      if (pass === 0) warnUnanswered();
      if (scan.workable === 0) break;
    }
  } finally {
    await (mx as MxTransport | null)?.finish().catch((err: unknown) => (fatal ??= err));
  }
  if (fatal !== null) throw fatal;
  result.probes = probes;
  result.messages = messages.size + removedMessages;
  result.smarthostLost = [...runs.values()].some((r) => r.lost);
  result.nextAttemptAt = scan?.nextAttemptAt ?? null;
  // Exact after a hold too, without reading the queue again: every pass plans the whole queue (a
  // hold stops only its account's feed, never the planner), so each entry's count is from its last
  // reading, and what the refused account let go unattempted or had refused is in it (due and not
  // attempted, or attempted and not final). Only a run stopped by a signal or a fatal error counts
  // what its planner had read; so does any run for mail queued after its last reading.
  result.remaining = owedTotal;
  result.holds = holds();
  const hold = result.holds[0] ?? null;
  result.hold = hold;
  if (hold !== null && result.remaining > 0) {
    result.outcome = 'held';
    result.exitCode = holdExitCode(hold.kind);
  } else {
    result.outcome = signal?.aborted ? 'stopped' : result.remaining > 0 ? 'pending' : 'done';
    result.exitCode = result.outcome === 'done' ? 0 : 75;
  }
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

/** One account's batch in a pass, fed by the planner. */
interface Lane {
  feed: EntryFeed;
}

/** What one pass's planner saw. */
interface PassScan {
  /** Entries with due recipients (or a bounce to queue). */
  planned: number;
  /** Their due recipients. */
  plannedDue: number;
  /** Entries fed to a delivery. */
  workable: number;
  /** The earliest time a deferred recipient that is not due yet is due again. */
  nextAttemptAt: string | null;
  /** Some entry had recipients for direct delivery. */
  mxNeeded: boolean;
}
