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
import { accountFingerprint } from '../config/account-fingerprint.js';
import { checkInternet, needsInternetCheck, type IsOnlineFn } from '../connectivity/internet.js';
import type { ProbeResult } from '../connectivity/probe-smarthost.js';
import { holdExitCode, isHoldActive, newHold, type AccountHold, type HoldKind } from '../model/account-hold.js';
import { findReachableSmarthost } from '../connectivity/probe-smarthost.js';
import { writeLastProbe } from '../connectivity/last-probe.js';
import { statfsSync } from 'node:fs';
import { BulkmailerError, ExitCode } from '../errors.js';
import { dueRecipients, isEntryComplete, recipientsAwaitingDsn } from '../model/entry-state.js';
import {
  clearAccountHold,
  readAccountHold,
  writeAccountHold,
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
import type { SendingLimiter } from '../delivery/sending-limiter.js';
import { parseLimits } from '../model/sending-limits.js';
import { FlushEvents, emptyFlushResult, type FlushResult } from './flush-events.js';
import type { Smarthost } from '../config/smarthost.js';
import type { Credentials } from '../config/credentials.js';
import type { OAuth2Credentials } from '../oauth2/access-tokens.js';
import { routeFor, usesTransport } from '../config/routes.js';
import { domainOf } from '../model/address.js';
import type { MxTransport } from './mx-transport.js';

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

/** The account of the top-level smarthost (issue 8: more accounts are chosen by sender). */
export const DEFAULT_ACCOUNT = 'default';

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
  /** Due recipients routed to the smarthost. */
  smarthost: number;
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

/** Probe errors that will not fix themselves by waiting: a certificate, or (with the internet up) an unknown name. */
async function needsYouProbeFailure(
  config: RuntimeConfig,
  probes: readonly ProbeResult[],
  isOnline: IsOnlineFn | undefined,
): Promise<{ kind: HoldKind; reply: string } | null> {
  if (probes.length === 0) return null;
  if (probes.every((p) => CERT_PROBE_ERROR.test(p.error ?? ''))) {
    return { kind: 'tls', reply: probes.map((p) => `${p.smarthost}: TLS failed: ${p.error}`).join('; ') };
  }
  if (probes.every((p) => p.error === 'ENOTFOUND') && needsInternetCheck(config.smarthosts)) {
    const internet = await checkInternet({ timeoutMs: config.timeouts.probeMs, isOnline });
    if (internet.online) {
      return { kind: 'dns', reply: probes.map((p) => `${p.smarthost}: host name does not resolve (ENOTFOUND)`).join('; ') };
    }
  }
  return null;
}

/** Node's certificate error codes as an smtps probe reports them. */
const CERT_PROBE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME_INVALID|certificate/i;

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
  try {
    const repair = await repairSpool(spool, now(), { onCrash: config.onCrash });
    for (const warning of repair.warnings) events.emit('warning', warning);
    reportInterrupted(repair.interrupted, events);
    const result = await runPasses(spool, config, events, options, now, started, cleanups);
    result.quarantined = quarantined;
    events.emit('end', result);
    return result;
  } finally {
    for (const cleanup of cleanups) cleanup();
    events.off('corrupt', countQuarantine);
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

async function planPass(
  spool: Spool,
  config: RuntimeConfig,
  attempted: Map<string, Set<string>>,
  now: number,
  events: FlushEvents,
): Promise<Plan> {
  const planned: PlannedEntry[] = [];
  let nextAttemptAt: string | null = null;
  const onCorrupt = (id: string, reason: string) => events.emit('corrupt', id, reason);
  for (const id of await listEntryIds(spool)) {
    const state = await readEntryForScan(spool, id, { quarantine: true, checkMessage: false, onCorrupt });
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
      const entry: PlannedEntry = { id, due: due.length, bounce: state.kind === 'dsn', smarthost: 0, mx: [], awaitingDsn };
      for (const r of due) {
        if (isMxRoute(config, r.address)) entry.mx.push(r.address);
        else entry.smarthost++;
      }
      planned.push(entry);
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

/** Entries with nothing due but a bounce to queue go with the smarthost when routes use it, else direct. */
function smarthostTakes(p: PlannedEntry, smarthostRouted: boolean): boolean {
  return p.smarthost > 0 || (p.awaitingDsn && p.mx.length === 0 && smarthostRouted);
}

function mxTakes(p: PlannedEntry, smarthostRouted: boolean): boolean {
  return p.mx.length > 0 || (p.awaitingDsn && p.smarthost === 0 && !smarthostRouted);
}

function isMxRoute(config: RuntimeConfig, address: string): boolean {
  return !config.routes.single || config.routes.fallback === 'mx' ? routeFor(config.routes, domainOf(address)) === 'mx' : false;
}

async function runPasses(
  spool: Spool,
  config: RuntimeConfig,
  events: FlushEvents,
  options: FlushOptions,
  now: () => number,
  started: number,
  /** Run by the caller when the run ends, however it ends (the send ledger's file). */
  cleanups: (() => void)[],
): Promise<FlushResult> {
  const signal = options.signal;
  const attempted = new Map<string, Set<string>>();
  let next = await planPass(spool, config, attempted, now(), events);
  let plan = next.entries;
  if (plan.length === 0) return { ...emptyFlushResult('done', started), nextAttemptAt: next.nextAttemptAt };
  const planDue = () => plan.reduce((n, p) => n + p.due, 0);

  const account = DEFAULT_ACCOUNT;
  const fingerprint = accountFingerprint(config.stored);
  const recordHold = async (refusal: { kind: HoldKind; reply: string; rule: string | null; until?: number }): Promise<AccountHold> => {
    const hold = newHold({ account, ...refusal }, now(), config.holds, fingerprint);
    await writeAccountHold(spool, hold);
    events.emit('held', hold);
    return hold;
  };

  checkFreeSpace(spool);
  const smarthostRouted = usesTransport(config.routes, 'smarthost');
  let smarthost: Smarthost | null = null;
  let credentials: Credentials | OAuth2Credentials | null = null;
  let probes: ProbeResult[] = [];
  let limiter: SendingLimiter | null = null;
  // A held account (promise 6) holds only the recipients routed to it; direct delivery goes on.
  let hold: AccountHold | null = null;
  if (plan.some((p) => smarthostTakes(p, smarthostRouted))) {
    const existing = readAccountHold(spool, account);
    // A sending limit's hold is re-decided below from the ledger and the limits as configured now.
    const standing = existing !== null && existing.kind !== 'limit' ? existing : null;
    if (standing !== null && isHoldActive(standing, now(), fingerprint)) {
      // Not contacted at all: the provider said not now, or the user must act first.
      events.emit('held', standing);
      hold = standing;
    } else {
      if (standing !== null) {
        clearAccountHold(spool, account);
        const why = Date.parse(standing.until) <= now() ? 'its time is over' : 'the account settings changed';
        events.emit('warning', `account ${account}: hold lifted (${why}); trying again`);
      }
      const smarthosts = requireSmarthosts(config);
      const limits = parseLimits(config.limits);
      if (limits.length > 0) {
        const { SendingLimiter } = await import('../delivery/sending-limiter.js');
        limiter = await SendingLimiter.open(spool, account, limits, now);
        cleanups.push(() => limiter?.close());
        const blocked = limiter.blocked();
        if (blocked !== null) {
          // The window is full: no need to ask the network anything.
          const limit = blocked.blockedBy;
          hold = await recordHold({ kind: 'limit', reply: `sending limit ${limit.text} reached`, rule: limit.text, until: blocked.resumeAt });
        }
      }
      if (hold === null) {
        if (existing?.kind === 'limit') clearAccountHold(spool, account);
        const probe = await findReachableSmarthost(smarthosts, {
          timeoutMs: config.timeouts.probeMs,
          tlsVerify: config.tlsVerify,
          tlsCa: config.tlsCa,
        });
        await writeLastProbe(spool.home, probe.probes);
        probes = probe.probes;
        smarthost = probe.smarthost;
        if (smarthost === null) {
          const needsYou = await needsYouProbeFailure(config, probe.probes, options.isOnline);
          if (needsYou !== null) hold = await recordHold({ ...needsYou, rule: null });
        }
      }
    }
  }
  let mx: MxTransport | null = null;
  if (plan.some((p) => mxTakes(p, smarthostRouted))) {
    const { MxTransport } = await import('./mx-transport.js');
    const setup = await MxTransport.prepare(spool, config, now, options.isOnline);
    if (setup.online) mx = setup.transport;
    else events.emit('warning', `direct delivery is offline: ${setup.detail}`);
  }
  if (smarthost === null && mx === null) {
    if (hold !== null) return { ...heldResult(hold, started, planDue()), probes };
    events.emit('offline', probes);
    const result = { ...emptyFlushResult('offline', started), probes };
    result.due = result.remaining = planDue();
    result.nextAttemptAt = next.nextAttemptAt;
    return result;
  }
  if (smarthost !== null) {
    // Loaded only when a smarthost answered: OAuth2's HTTP client stays out of an empty cron flush.
    const { resolveAccountCredentials } = await import('../oauth2/account-credentials.js');
    credentials = await resolveAccountCredentials(spool, account, config.stored, smarthost, { now });
    if (!config.tlsVerify) events.emit('warning', `tls.verify is off: the certificate of ${smarthost.display} is not checked`);
  } else if (hold === null && probes.length > 0) {
    events.emit('warning', 'no smarthost answered: recipients routed to the smarthost wait');
  }
  const label = smarthost?.display ?? 'direct delivery (MX)';
  const result: FlushResult = { ...emptyFlushResult('done', started), smarthost: label, probes };
  const messages = new Set<string>();
  // Bounce reports are counted apart from the user's messages (the summary says which is which).
  const bounceIds = new Set(plan.filter((p) => p.bounce).map((p) => p.id));
  let finalCount = 0;
  // The first error that must end the run (refused AUTH, a full disk, a bug):
  // every session finishes its transaction in flight and stops first, so the
  // instance lock is never released under one still writing state.
  let fatal: unknown = null;
  let lostSmarthost = false;
  let transport = label;
  const stopping = () => signal?.aborted === true || fatal !== null;
  let passDue = new Map<string, number>();
  const callbacks: BatchCallbacks = {
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
      events.emit('entry-removed', id);
    },
    onCorrupt(id, reason) {
      // It was due when planned; in corrupt/ it is no longer the queue's (nor "still due").
      result.due -= passDue.get(id) ?? 0;
      passDue.delete(id);
      events.emit('corrupt', id, reason);
    },
    onWarning(message) {
      events.emit('warning', message);
    },
  };

  // Recipients whose transport is offline or held are due but get no pass: counted once, as remaining.
  const smarthostUp = () => smarthost !== null && !lostSmarthost && hold === null;
  const workable = (p: PlannedEntry) =>
    (smarthostUp() && smarthostTakes(p, smarthostRouted)) || (mx !== null && mxTakes(p, smarthostRouted));
  const workDue = (p: PlannedEntry) => (smarthostUp() ? p.smarthost : 0) + (mx !== null ? p.mx.length : 0);
  result.due += plan.reduce((n, p) => n + p.due - workDue(p), 0);
  plan = plan.filter(workable);

  try {
    // Loaded only when there is work: a cron flush of an empty queue skips nodemailer.
    const { deliverBatch } = await import('../delivery/deliver-batch.js');
    const { parseAccountReplyRules } = await import('../delivery/account-replies.js');
    const accountReplies = parseAccountReplyRules(config.accountReplies);
    for (let pass = 0; pass <= MAX_EXTRA_PASSES && plan.length > 0 && !stopping(); pass++) {
      passDue = new Map(plan.map((p) => [p.id, workDue(p)]));
      const dueNow = plan.reduce((n, p) => n + workDue(p), 0);
      result.due += dueNow;
      events.emit('start', { smarthost: label, dueEntries: plan.length, dueRecipients: dueNow, pass });
      if (smarthost !== null && smarthostUp()) {
        const ids = plan.filter((p) => smarthostTakes(p, smarthostRouted)).map((p) => p.id);
        transport = smarthost.display;
        const batch = await deliverBatch(
          {
            spool,
            config,
            smarthost,
            credentials,
            concurrency: config.concurrency,
            now,
            accountReplies,
            limiter,
            accepts: config.routes.single ? undefined : (address) => !isMxRoute(config, address),
          },
          ids,
          attempted,
          stopping,
          callbacks,
        );
        if (batch.lost) lostSmarthost = true;
        if (batch.fatal !== null) fatal ??= batch.fatal;
        if (batch.refused !== null && fatal === null) hold = await recordHold(batch.refused);
      }
      if (mx !== null && !stopping()) {
        const work = plan.filter((p) => mxTakes(p, smarthostRouted)).map((p) => ({ id: p.id, recipients: p.mx }));
        transport = 'direct delivery (MX)';
        const batch = await mx.runPass(work, attempted, stopping, callbacks);
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
      next = await planPass(spool, config, attempted, now(), events);
      plan = next.entries.filter(workable);
      for (const p of plan) if (p.bounce) bounceIds.add(p.id);
      if (plan.length > 0) checkFreeSpace(spool);
    }
  } finally {
    await mx?.finish().catch((err: unknown) => (fatal ??= err));
  }
  if (fatal !== null) throw fatal;
  result.messages = messages.size;
  result.smarthostLost = lostSmarthost;
  result.nextAttemptAt = next.nextAttemptAt;
  result.remaining = Math.max(0, result.due - finalCount);
  result.hold = hold;
  if (hold !== null) {
    // What the refused pass left is still due, beyond what the pass counted.
    const left = await planPass(spool, config, attempted, now(), events);
    result.remaining = Math.max(result.remaining, left.entries.reduce((n, p) => n + p.due, 0));
    result.outcome = 'held';
    result.exitCode = holdExitCode(hold.kind);
  } else {
    result.outcome = signal?.aborted ? 'stopped' : result.remaining > 0 ? 'pending' : 'done';
    result.exitCode = result.outcome === 'done' ? 0 : 75;
  }
  result.durationMs = Math.round(performance.now() - started);
  return result;
}
