/**
 * Doctor: every check in order, as data (the CLI prints or emits JSON).
 * Config first (later checks need it), then the spool, paused or held
 * accounts, each smarthost in the order tried, direct delivery's DNS,
 * port 25 and EHLO name when routes use it, the clock (using any date a
 * smarthost greeting gave), then who flushes (agent, the listener when
 * enabled, the sendmail command's start-up snapshot, autostart). Never throws; records the smarthost probes in
 * spool/last-probe.json like any other probe.
 */
import { writeLastProbe } from '../connectivity/last-probe.js';
import type { ProbeResult } from '../connectivity/probe-smarthost.js';
import { checkAgent, checkAutostart } from './check-agent.js';
import { checkClock, greetingDate } from './check-clock.js';
import { checkConfig } from './check-config.js';
import { checkListener } from './check-listener.js';
import { checkSendmailSnapshot } from './check-sendmail-snapshot.js';
import { checkSmarthost } from './check-smarthost.js';
import { listAccounts } from '../config/accounts.js';
import { checkSpool } from './check-spool.js';
import { checkTrust } from './check-trust.js';
import { checkHolds } from './check-holds.js';
import { checkMx, mxRouted } from './check-mx.js';
import { skip, type CheckResult } from './check.js';

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export interface DoctorOptions {
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Skip the autostart check (tests that must not read the real user's crontab). */
  skipAutostart?: boolean;
}

export async function runDoctor(home: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const checks: CheckResult[] = [checkTrust(home)];
  const { results, config } = checkConfig(home);
  checks.push(...results);
  checks.push(...(await checkSpool(home)));
  checks.push(...checkHolds(home, config, (options.now ?? Date.now)()));
  const dates: { smarthost: string; date: number }[] = [];
  if (config === null) {
    checks.push(skip('smarthost', 'smarthost checks', 'config could not be loaded'));
  } else {
    const probes: ProbeResult[] = [];
    // Every account's smarthosts (the default account first): an account no mail uses yet is checked too.
    for (const { account, smarthost } of listAccounts(config).flatMap((account) => account.smarthosts.map((smarthost) => ({ account, smarthost })))) {
      const started = performance.now();
      const result = await checkSmarthost(config, smarthost, env, account).catch((err: unknown) => ({
        results: [skip('smarthost', `${smarthost.display}: checks`, `internal error: ${(err as Error).message}`)],
        greeting: null,
        reachable: false,
      }));
      checks.push(...result.results);
      const date = greetingDate(result.greeting);
      if (date !== null) dates.push({ smarthost: smarthost.display, date });
      const reach = result.results.find((r) => r.id === 'smarthost.reach');
      probes.push({
        smarthost: smarthost.display,
        reachable: result.reachable,
        ms: Math.round(performance.now() - started),
        greeting: result.greeting,
        error: result.reachable ? null : (reach?.detail ?? 'unreachable'),
      });
    }
    if (probes.length > 0) await writeLastProbe(home, probes);
    if (mxRouted(config)) checks.push(...(await checkMx(config)));
  }
  checks.push(checkClock((options.now ?? Date.now)(), dates));
  checks.push(await checkAgent(home));
  if (config !== null) checks.push(...(await checkListener(home, config)));
  checks.push(checkSendmailSnapshot(env));
  if (!options.skipAutostart) checks.push(await checkAutostart(home, env));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}
