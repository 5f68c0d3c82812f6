/**
 * One flush: the engine under both `bulkmailer flush` (cron) and the agent.
 *
 *   1. take the instance lock, or answer 'busy' at once (promise 5)
 *   2. repair the traces of crashes (tmp files, orphans, dead locks)
 *   3. plan: which entries have due recipients (nothing due: done, no network)
 *   4. probe the smarthosts in order; none reachable: 'offline', nothing
 *      counted (promise 4)
 *   5. deliver (src/delivery/deliver-batch.ts): up to `concurrency` sessions,
 *      each reused for many transactions and taking whole entries (so the
 *      transactions of one entry never overlap: promise 3)
 *   6. plan again: entries that became due during the pass (new messages,
 *      bounces) get another pass, so a cron flush leaves an empty queue
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
import { dueRecipients, isEntryComplete, recipientsAwaitingDsn, type EntryState } from '../model/entry-state.js';
import {
  instanceLockPath,
  listEntryIds,
  openSpool,
  readEntryForScan,
  REMOVE_ENTRY,
  updateEntryState,
  repairSpool,
  tryLock,
  type HeldLock,
  type RepairReport,
  type Spool,
} from '../spool/index.js';
import type { BatchCallbacks } from '../delivery/deliver-batch.js';
import type { AccountReplyRule } from '../delivery/account-replies.js';
import { FlushEvents, emptyFlushResult, type FlushResult } from './flush-events.js';
import { routeFor, routesUseAccounts } from '../config/routes.js';
import { domainOf } from '../model/address.js';
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
}

/**
 * How many parsed states of planned entries a plan keeps for their
 * delivery, which then need not read the file again (one stat instead).
 * Entries further down a longer queue are read again when their turn
 * comes: a 100,000-entry drain must not hold 100,000 states (a parsed
 * state of 5 recipients is ~1 KB of heap, so this bounds it to ~4 MB).
 */
const PLANNED_STATES_KEPT = 4096;

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
  /** Due recipients per sending account (routes `smarthost` and account names), by account name. */
  accounts: Map<string, number>;
  /** The account the entry's sender uses: where a bounce-only entry goes. */
  senderAccount: string;
  /** Due recipients routed to `mx` (direct delivery). */
  mx: string[];
  /** Failed recipients whose bounce is not queued yet. */
  awaitingDsn: boolean;
}

interface Plan {
  entries: PlannedEntry[];
  /** The earliest time a deferred recipient that is not due yet is due again. */
  nextAttemptAt: string | null;
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
    reportInterrupted(repair.interrupted, events);
    const result = await runPasses(spool, config, events, options, now, started, cleanups);
    result.quarantined = quarantined;
    result.unreadable = unreadable;
    if (result.exitCode === 0 && unreadableExit !== null) result.exitCode = unreadableExit;
    events.emit('end', result);
    return result;
  } finally {
    for (const cleanup of cleanups) cleanup();
    events.off('corrupt', countQuarantine);
    events.off('unreadable', countUnreadable);
    instance?.release();
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

async function planPass(
  spool: Spool,
  config: RuntimeConfig,
  attempted: Map<string, Set<string>>,
  now: number,
  events: FlushEvents,
  /** Filled with the states of the first planned entries (PLANNED_STATES_KEPT), for their delivery. */
  keep?: Map<string, EntryState>,
): Promise<Plan> {
  keep?.clear();
  const planned: PlannedEntry[] = [];
  let nextAttemptAt: string | null = null;
  const onCorrupt = (id: string, reason: string) => events.emit('corrupt', id, reason);
  const onUnreadable = (id: string, reason: string, err: BulkmailerError) => reportUnreadable(events, id, reason, err.exitCode);
  for (const id of await listEntryIds(spool)) {
    const state = await readEntryForScan(spool, id, { quarantine: true, checkMessage: false, onCorrupt, onUnreadable, stamp: keep !== undefined });
    if (state === null) continue;
    if (isEntryComplete(state)) {
      // Finished but not removed: a crash between the last state write and removal.
      const gone = await updateEntryState(spool, id, (current) => (isEntryComplete(current) ? REMOVE_ENTRY : null));
      if (gone === null) events.emit('entry-removed', id);
      continue;
    }
    const done = attempted.get(id);
    const due = dueRecipients(state, now).filter((r) => !done?.has(r.address));
    const awaitingDsn = recipientsAwaitingDsn(state).length > 0;
    if (due.length > 0 || awaitingDsn) {
      const senderAccount = accountForSender(config, state.from);
      const entry: PlannedEntry = { id, due: due.length, bounce: state.kind === 'dsn', accounts: new Map(), senderAccount, mx: [], awaitingDsn };
      for (const r of due) {
        const transport = transportOf(config, senderAccount, r.address);
        if (transport === 'mx') entry.mx.push(r.address);
        else entry.accounts.set(transport, (entry.accounts.get(transport) ?? 0) + 1);
      }
      planned.push(entry);
      if (keep !== undefined && keep.size < PLANNED_STATES_KEPT) keep.set(id, state);
    }
    if (!state.held) {
      for (const r of state.recipients) {
        if (r.status !== 'deferred' || r.nextAttemptAt === null || Date.parse(r.nextAttemptAt) <= now) continue;
        if (nextAttemptAt === null || Date.parse(r.nextAttemptAt) < Date.parse(nextAttemptAt)) nextAttemptAt = r.nextAttemptAt;
      }
    }
  }
  return { entries: planned, nextAttemptAt };
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
  return (p.accounts.get(account) ?? 0) > 0 || (bounceOnly(p) && account === p.senderAccount && accountsRouted);
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
  const attempted = new Map<string, Set<string>>();
  const plannedStates = new Map<string, EntryState>();
  let next = await planPass(spool, config, attempted, now(), events, plannedStates);
  let plan = next.entries;
  if (plan.length === 0) return { ...emptyFlushResult('done', started), nextAttemptAt: next.nextAttemptAt };
  const planDue = () => plan.reduce((n, p) => n + p.due, 0);

  checkFreeSpace(spool);
  const accountsRouted = routesUseAccounts(config.routes);
  const context: AccountRunContext = { spool, config, events, now, isOnline: options.isOnline, cleanups };
  const runs = new Map<string, AccountRun>();
  const noWayOut = new Set<string>();
  /**
   * Prepares the accounts a plan needs that are not prepared yet, side by
   * side (its hold, its limits, its probe); later passes may need one the
   * first did not (a bounce goes through the default account).
   */
  const prepareNeeded = async (entries: readonly PlannedEntry[]): Promise<AccountRun[]> => {
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
    return prepared;
  };
  const needed = accountsNeeded(plan, accountsRouted);
  if (needed.length > 0 && needed.every((name) => resolveAccount(config, name).smarthosts.length === 0) && !plan.some((p) => mxTakes(p, accountsRouted))) {
    requireSmarthosts(config); // only the default account can lack one: the error says how to set it
  }
  await prepareNeeded(plan);
  const probes = await recordProbes(spool, [...runs.values()]);
  let mx: MxTransport | null = null;
  if (plan.some((p) => mxTakes(p, accountsRouted))) {
    const { MxTransport } = await import('./mx-transport.js');
    const setup = await MxTransport.prepare(spool, config, now, options.isOnline);
    if (setup.online) mx = setup.transport;
    else events.emit('warning', `direct delivery is offline: ${setup.detail}`);
  }
  const up = () => [...runs.values()].filter(isAccountUp);
  const holds = () => [...runs.values()].flatMap((r) => (r.hold === null ? [] : [r.hold]));
  const misconfigured = [...runs.values()].flatMap((r) => (r.configError === null ? [] : [r.configError]));
  if (misconfigured.length > 0 && up().length === 0 && mx === null) throw misconfigured[0];
  if (up().length === 0 && mx === null) {
    const hold = holds()[0];
    if (hold !== undefined) return { ...heldResult(hold, started, planDue()), probes, holds: holds() };
    events.emit('offline', probes);
    const result = { ...emptyFlushResult('offline', started), probes };
    result.due = result.remaining = planDue();
    result.nextAttemptAt = next.nextAttemptAt;
    return result;
  }
  for (const run of runs.values()) {
    if (run.smarthost === null && run.hold === null && run.probes.length > 0 && (runs.size > 1 || mx !== null)) {
      events.emit('warning', `account ${run.account.name}: no smarthost answered; its recipients wait`);
    }
  }
  const label = () => {
    const ways = up().map((r) => r.smarthost!.display);
    return ways.length > 0 ? ways.join(', ') : 'direct delivery (MX)';
  };
  const result: FlushResult = { ...emptyFlushResult('done', started), smarthost: label(), probes };
  // What the run keeps per entry is dropped when the entry is removed (onRemoved), so that a
  // drain's memory does not grow with the queue: only entries still in it are remembered.
  const messages = new Set<string>();
  let removedMessages = 0;
  // Bounce reports are counted apart from the user's messages (the summary says which is which).
  const bounceIds = new Set(plan.filter((p) => p.bounce).map((p) => p.id));
  let finalCount = 0;
  // The first error that must end the run (a full disk, a bug): every
  // session finishes its transaction in flight and stops first, so the
  // instance lock is never released under one still writing state.
  let fatal: unknown = null;
  const stopping = () => signal?.aborted === true || fatal !== null;
  let passDue = new Map<string, number>();
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
      finalCount += finals.length;
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
      passDue.delete(id);
      events.emit('entry-removed', id);
    },
    onCorrupt(id, reason) {
      // It was due when planned; in corrupt/ it is no longer the queue's (nor "still due").
      result.due -= passDue.get(id) ?? 0;
      passDue.delete(id);
      events.emit('corrupt', id, reason);
    },
    onUnreadable(id, reason, exitCode) {
      // Skipped, as at planning: the run does not count it as still due (its line says why it stays).
      result.due -= passDue.get(id) ?? 0;
      passDue.delete(id);
      reportUnreadable(events, id, reason, exitCode);
    },
    onWarning(message) {
      events.emit('warning', message);
    },
  });

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
      if (run !== undefined && isAccountUp(run) && accountTakes(p, name, accountsRouted)) return name;
    }
    return null;
  };
  const upDue = (p: PlannedEntry) =>
    [...p.accounts].reduce((n, [name, count]) => n + (runs.get(name) !== undefined && isAccountUp(runs.get(name)!) ? count : 0), 0);
  const workable = (p: PlannedEntry) => assignedAccount(p) !== null || (mx !== null && mxTakes(p, accountsRouted));
  // Recipients whose transport is offline or held are due but get no pass: counted once, as remaining.
  result.due += plan.reduce((n, p) => n + p.due - upDue(p) - (mx !== null ? p.mx.length : 0), 0);
  plan = plan.filter(workable);

  try {
    // Loaded only when there is work: a cron flush of an empty queue skips nodemailer.
    const { deliverBatch } = await import('../delivery/deliver-batch.js');
    const { parseAccountReplyRules } = await import('../delivery/account-replies.js');
    const replyRules = new Map<string, AccountReplyRule[]>();
    const rulesOf = (account: AccountSettings) => {
      let rules = replyRules.get(account.name);
      if (rules === undefined) replyRules.set(account.name, (rules = parseAccountReplyRules(account.accountReplies)));
      return rules;
    };
    for (let pass = 0; pass <= MAX_EXTRA_PASSES && plan.length > 0 && !stopping(); pass++) {
      const byAccount = new Map<string, PlannedEntry[]>();
      for (const p of plan) {
        const name = assignedAccount(p);
        if (name === null) continue;
        const list = byAccount.get(name) ?? [];
        list.push(p);
        byAccount.set(name, list);
      }
      const assigned = new Map<string, string>();
      for (const [name, entries] of byAccount) for (const p of entries) assigned.set(p.id, name);
      const passWork = (p: PlannedEntry) => {
        const name = assigned.get(p.id);
        return (name === undefined ? 0 : (p.accounts.get(name) ?? 0)) + (mx !== null ? p.mx.length : 0);
      };
      passDue = new Map(plan.map((p) => [p.id, passWork(p)]));
      const dueNow = plan.reduce((n, p) => n + passWork(p), 0);
      result.due += dueNow;
      events.emit('start', { smarthost: label(), dueEntries: plan.length, dueRecipients: dueNow, pass });
      // Each account over its own connections, side by side.
      await Promise.all(
        [...byAccount].map(async ([name, entries]) => {
          const run = runs.get(name)!;
          const smarthost = run.smarthost!;
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
              plannedStates,
              accepts: config.routes.single && config.accounts.size === 1
                ? undefined
                : (address, from) => transportOf(config, accountForSender(config, from), address) === name,
            },
            entries.map((p) => p.id),
            attempted,
            stopping,
            callbacksFor(smarthost.display),
          );
          if (batch.lost) run.lost = true;
          if (batch.fatal !== null) fatal ??= batch.fatal;
          if (batch.refused !== null && fatal === null) await run.recordHold(batch.refused);
        }),
      );
      if (mx !== null && !stopping()) {
        const work = plan.filter((p) => mxTakes(p, accountsRouted)).map((p) => ({ id: p.id, recipients: p.mx }));
        const batch = await mx.runPass(work, attempted, stopping, callbacksFor('direct delivery (MX)'));
        if (batch.fatal !== null) fatal ??= batch.fatal;
        if (batch.offline) mx = null;
        // Whatever was not attempted (a destination down) waits for a later flush, not another pass.
        for (const w of work) {
          const done = attempted.get(w.id) ?? new Set<string>();
          for (const address of w.recipients) done.add(address);
          attempted.set(w.id, done);
        }
      }
      if (stopping()) break;
      next = await planPass(spool, config, attempted, now(), events, plannedStates);
      const late = await prepareNeeded(next.entries);
      if (late.some((r) => r.probes.length > 0)) await recordProbes(spool, [...runs.values()]);
      plan = next.entries.filter(workable);
      for (const p of plan) if (p.bounce) bounceIds.add(p.id);
      if (plan.length > 0) checkFreeSpace(spool);
    }
  } finally {
    await mx?.finish().catch((err: unknown) => (fatal ??= err));
  }
  if (fatal !== null) throw fatal;
  result.messages = messages.size + removedMessages;
  result.smarthostLost = [...runs.values()].some((r) => r.lost);
  result.nextAttemptAt = next.nextAttemptAt;
  result.remaining = Math.max(0, result.due - finalCount);
  result.holds = holds();
  const hold = result.holds[0] ?? null;
  result.hold = hold;
  if (hold !== null) {
    // What the refused pass left is still due, beyond what the pass counted.
    const left = await planPass(spool, config, attempted, now(), events);
    result.remaining = Math.max(result.remaining, left.entries.reduce((n, p) => n + p.due, 0));
  }
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
