/**
 * One sending account in one flush (src/config/accounts.ts): whether it may
 * be contacted (its hold, its sending limits), which of its smarthosts
 * answers, its credentials, its recipients per transaction and connections
 * at once. The flush makes one per account its due mail needs, and nothing
 * for the others: an account nobody's mail uses is never probed.
 *
 * Each account stands alone (promise 6): its hold holds only its mail, its
 * limits count only its transactions (spool/accounts/NAME.*), a smarthost
 * that does not answer leaves only its recipients waiting.
 *
 * Fails only as the flush would: a config error while resolving
 * credentials (exit 78) or a spool that cannot record a hold.
 */
import { accountFingerprint } from '../config/account-fingerprint.js';
import type { AccountSettings } from '../config/accounts.js';
import type { Credentials } from '../config/credentials.js';
import type { OAuth2Credentials } from '../oauth2/access-tokens.js';
import type { RuntimeConfig } from '../config/runtime.js';
import type { Smarthost } from '../config/smarthost.js';
import { checkInternet, needsInternetCheck, type IsOnlineFn } from '../connectivity/internet.js';
import { writeLastProbe } from '../connectivity/last-probe.js';
import { findReachableSmarthost, type ProbeResult } from '../connectivity/probe-smarthost.js';
import { isHoldActive, newHold, type AccountHold, type HoldKind } from '../model/account-hold.js';
import { parseLimits } from '../model/sending-limits.js';
import { clearAccountHold, readAccountHold, writeAccountHold, type Spool } from '../spool/index.js';
import type { SendingLimiter } from '../delivery/sending-limiter.js';
import { LearntFigure } from '../delivery/learnt-figure.js';
import type { FlushEvents } from './flush-events.js';
import { BulkmailerError, ExitCode } from '../errors.js';

export interface AccountRun {
  account: AccountSettings;
  /** The smarthost that answered the probe; null: not contacted (held, limit reached) or none answered. */
  smarthost: Smarthost | null;
  credentials: Credentials | OAuth2Credentials | null;
  limiter: SendingLimiter | null;
  recipientsPerTransaction: LearntFigure | null;
  /** Its connections at once: `concurrency`, or fewer once its smarthost refused one more (for the whole flush). */
  connections: LearntFigure | null;
  /** Its hold, found or made in this run: its mail waits. */
  hold: AccountHold | null;
  probes: ProbeResult[];
  /** Its smarthost went away during the run. */
  lost: boolean;
  /**
   * Its settings cannot be used (a credential source that fails, OAuth2
   * without a client id): its mail waits, the others go on; the flush
   * fails with it (exit 78) only when no account could send.
   */
  configError: BulkmailerError | null;
  /** Records a refusal of the account as a hold in the spool (and says so). */
  recordHold(refusal: { kind: HoldKind; reply: string; rule: string | null; until?: number }): Promise<AccountHold>;
}

export interface AccountRunContext {
  spool: Spool;
  config: RuntimeConfig;
  events: FlushEvents;
  now: () => number;
  isOnline?: IsOnlineFn;
  /** Run when the flush ends however it ends (the send ledger's file). */
  cleanups: (() => void)[];
}

/** Node's certificate error codes as an smtps probe reports them. */
const CERT_PROBE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME_INVALID|certificate/i;

/** Probe errors that will not fix themselves by waiting: a certificate, or (with the internet up) an unknown name. */
async function needsYouProbeFailure(
  smarthosts: readonly Smarthost[],
  probeMs: number,
  probes: readonly ProbeResult[],
  isOnline: IsOnlineFn | undefined,
): Promise<{ kind: HoldKind; reply: string } | null> {
  if (probes.length === 0) return null;
  if (probes.every((p) => CERT_PROBE_ERROR.test(p.error ?? ''))) {
    return { kind: 'tls', reply: probes.map((p) => `${p.smarthost}: TLS failed: ${p.error}`).join('; ') };
  }
  if (probes.every((p) => p.error === 'ENOTFOUND') && needsInternetCheck(smarthosts)) {
    const internet = await checkInternet({ timeoutMs: probeMs, isOnline });
    if (internet.online) {
      return { kind: 'dns', reply: probes.map((p) => `${p.smarthost}: host name does not resolve (ENOTFOUND)`).join('; ') };
    }
  }
  return null;
}

/**
 * Gets an account ready to send, or says why it may not: an active hold
 * (not contacted at all), a full sending-limit window (no need to ask the
 * network), or no smarthost answering (offline, or held when it will not
 * fix itself: a certificate, a name that does not resolve).
 */
export async function prepareAccountRun(ctx: AccountRunContext, account: AccountSettings): Promise<AccountRun> {
  const { spool, events, now } = ctx;
  const name = account.name;
  const fingerprint = accountFingerprint(account.stored);
  const run: AccountRun = {
    account,
    smarthost: null,
    credentials: null,
    limiter: null,
    recipientsPerTransaction: null,
    connections: null,
    hold: null,
    probes: [],
    lost: false,
    configError: null,
    async recordHold(refusal) {
      const hold = newHold({ account: name, ...refusal }, now(), account.holds, fingerprint);
      await writeAccountHold(spool, hold);
      events.emit('held', hold);
      run.hold = hold;
      return hold;
    },
  };
  const existing = readAccountHold(spool, name);
  // A sending limit's hold is re-decided below from the ledger and the limits as configured now.
  const standing = existing !== null && existing.kind !== 'limit' ? existing : null;
  if (standing !== null && isHoldActive(standing, now(), fingerprint)) {
    // Not contacted at all: the provider said not now, or the user must act first.
    events.emit('held', standing);
    run.hold = standing;
    return run;
  }
  if (standing !== null) {
    clearAccountHold(spool, name);
    const why = Date.parse(standing.until) <= now() ? 'its time is over' : 'the account settings changed';
    events.emit('warning', `account ${name}: hold lifted (${why}); trying again`);
  }
  const limits = parseLimits(account.limits);
  if (limits.length > 0) {
    const { SendingLimiter } = await import('../delivery/sending-limiter.js');
    const limiter = await SendingLimiter.open(spool, name, limits, now);
    run.limiter = limiter;
    ctx.cleanups.push(() => limiter.close());
    const blocked = limiter.blocked();
    if (blocked !== null) {
      const limit = blocked.blockedBy;
      await run.recordHold({ kind: 'limit', reply: `sending limit ${limit.text} reached`, rule: limit.text, until: blocked.resumeAt });
      return run;
    }
  }
  if (existing?.kind === 'limit') clearAccountHold(spool, name);
  const probe = await findReachableSmarthost(account.smarthosts, {
    timeoutMs: ctx.config.timeouts.probeMs,
    tlsVerify: account.tlsVerify,
    tlsCa: account.tlsCa,
  });
  run.probes = probe.probes;
  run.smarthost = probe.smarthost;
  if (probe.smarthost === null) {
    const needsYou = await needsYouProbeFailure(account.smarthosts, ctx.config.timeouts.probeMs, probe.probes, ctx.isOnline);
    if (needsYou !== null) await run.recordHold({ ...needsYou, rule: null });
    return run;
  }
  // Loaded only when a smarthost answered: OAuth2's HTTP client stays out of an empty cron flush.
  const { resolveAccountCredentials } = await import('../oauth2/account-credentials.js');
  try {
    run.credentials = await resolveAccountCredentials(spool, name, account.stored, probe.smarthost, { now });
  } catch (err) {
    if (!(err instanceof BulkmailerError && err.exitCode === ExitCode.config)) throw err;
    run.configError = err;
    run.smarthost = null;
    return run;
  }
  run.recipientsPerTransaction = LearntFigure.open(spool, account, 'recipients', now);
  run.connections = LearntFigure.open(spool, account, 'connections', now);
  if (!account.tlsVerify) {
    events.emit('warning', `${account.keyPrefix}tls.verify is off: the certificate of ${probe.smarthost.display} is not checked`);
  }
  return run;
}

/** The last probe's answers, for `status`: every account probed in this run, together. */
export async function recordProbes(spool: Spool, runs: readonly AccountRun[]): Promise<ProbeResult[]> {
  const probes = runs.flatMap((r) => r.probes);
  if (runs.some((r) => r.probes.length > 0)) await writeLastProbe(spool.home, probes);
  return probes;
}

/** Ready to take transactions now. */
export function isAccountUp(run: AccountRun): boolean {
  return run.smarthost !== null && run.hold === null && !run.lost;
}
