/**
 * Every connectivity check at once, with timings, for `bulkmailer probe`:
 * the external interfaces, the internet (unless skipped: every smarthost on
 * loopback or a private network), and each smarthost of every account in
 * turn (the default account first, then the others by name, as flush,
 * doctor and status see them; all of an account's smarthosts, not just the
 * first reachable one, so a broken fallback shows up), each with its
 * account's TLS settings; the accounts are probed in parallel. Never throws; the probes are injectable for tests.
 */
import type { RuntimeConfig } from '../config/runtime.js';
import type { Smarthost } from '../config/smarthost.js';
import { listAccounts, type AccountSettings } from '../config/accounts.js';
import { externalAddresses, readInterfaces, type ExternalAddress, type ReadInterfaces } from './interfaces.js';
import { checkInternet, needsInternetCheck, needsNetwork, type IsOnlineFn } from './internet.js';
import { probeSmarthost, type ProbeResult } from './probe-smarthost.js';

export interface AccountProbe {
  account: string;
  /** Its smarthosts in the order a flush tries them (none: an account without a smarthost). */
  smarthosts: ProbeResult[];
  /** The first of them that answered (display form), or null. */
  reachable: string | null;
}

export interface ProbeReport {
  interfaces: { ms: number; external: ExternalAddress[]; needed: boolean };
  internet:
    | { checked: true; online: boolean; ms: number; error: string | null }
    | { checked: false; skipped: string };
  /** Every account, the default first. */
  accounts: AccountProbe[];
  /** Every smarthost probed, of every account in order. */
  smarthosts: ProbeResult[];
  /** The first reachable smarthost of any account (display form), or null. */
  reachable: string | null;
}

export interface ProbeReportDeps {
  interfaces?: ReadInterfaces;
  isOnline?: IsOnlineFn;
  probe?: (smarthost: Smarthost, account: AccountSettings) => Promise<ProbeResult>;
  internetTimeoutMs?: number;
}

export async function buildProbeReport(config: RuntimeConfig, deps: ProbeReportDeps = {}): Promise<ProbeReport> {
  const accounts = listAccounts(config);
  const allSmarthosts = accounts.flatMap((a) => a.smarthosts);
  const t0 = performance.now();
  const external = externalAddresses((deps.interfaces ?? readInterfaces)());
  const interfaces = { ms: Math.round(performance.now() - t0), external, needed: needsNetwork(allSmarthosts) };

  let internet: ProbeReport['internet'];
  if (allSmarthosts.length === 0) {
    internet = { checked: false, skipped: 'no smarthost configured' };
  } else if (!needsInternetCheck(allSmarthosts)) {
    internet = { checked: false, skipped: 'every smarthost is on loopback or a private network' };
  } else {
    const result = await checkInternet({ timeoutMs: deps.internetTimeoutMs ?? 5_000, isOnline: deps.isOnline });
    internet = { checked: true, ...result };
  }

  const probe =
    deps.probe ??
    ((s: Smarthost, account: AccountSettings) =>
      probeSmarthost(s, { timeoutMs: config.timeouts.probeMs, tlsVerify: account.tlsVerify, tlsCa: account.tlsCa }));
  // Accounts in parallel (ten unreachable accounts must not take ten probe timeouts), each one's smarthosts in order.
  const probed = await Promise.all(
    accounts.map(async (account): Promise<AccountProbe> => {
      const results: ProbeResult[] = [];
      for (const smarthost of account.smarthosts) results.push(await probe(smarthost, account));
      return { account: account.name, smarthosts: results, reachable: results.find((r) => r.reachable)?.smarthost ?? null };
    }),
  );
  const smarthosts = probed.flatMap((a) => a.smarthosts);
  return { interfaces, internet, accounts: probed, smarthosts, reachable: smarthosts.find((r) => r.reachable)?.smarthost ?? null };
}
