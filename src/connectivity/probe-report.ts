/**
 * Every connectivity check at once, with timings, for `bulkmailer probe`:
 * the external interfaces, the internet (as the flush asks it: for a
 * smarthost on the internet, and for direct delivery whose resolvers are
 * on the internet; skipped, saying why, when neither is), and each smarthost of every account in
 * turn (the default account first, then the others by name, as flush,
 * doctor and status see them; all of an account's smarthosts, not just the
 * first reachable one, so a broken fallback shows up), each with its
 * account's TLS settings; the accounts are probed in parallel. Never throws; the probes are injectable for tests.
 */
import type { RuntimeConfig } from '../config/runtime.js';
import type { Smarthost } from '../config/smarthost.js';
import { listAccounts, type AccountSettings } from '../config/accounts.js';
import { externalAddresses, readInterfaces, type ExternalAddress, type ReadInterfaces } from './interfaces.js';
import { checkInternet, needsInternetCheck, needsNetwork, resolversArePrivate, type IsOnlineFn } from './internet.js';
import { mxResolvers } from '../config/resolvers.js';
import { usesTransport } from '../config/routes.js';
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
  const mxResolvers = directDeliveryResolvers(config);
  if (needsInternetCheck(allSmarthosts) || mxResolvers === 'internet') {
    const result = await checkInternet({ timeoutMs: deps.internetTimeoutMs ?? 5_000, isOnline: deps.isOnline });
    internet = { checked: true, ...result };
  } else {
    internet = { checked: false, skipped: whyNoInternetCheck(allSmarthosts.length > 0, mxResolvers === 'private') };
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

/**
 * Where direct delivery's resolvers are, for the internet check (the flush
 * asks is-online only for resolvers on the internet: src/flush/mx-transport.ts);
 * null when no route sends to mx. Unreadable system resolvers count as the
 * internet's (the mx checks say what is wrong with them).
 */
function directDeliveryResolvers(config: RuntimeConfig): 'private' | 'internet' | null {
  if (!usesTransport(config.routes, 'mx')) return null;
  try {
    return resolversArePrivate(mxResolvers(config.mx.resolvers)) ? 'private' : 'internet';
  } catch {
    return 'internet';
  }
}

/** Why the internet was not asked: what was there to ask it for. */
function whyNoInternetCheck(smarthosts: boolean, mxPrivate: boolean): string {
  const resolvers = "direct delivery's DNS resolvers";
  if (smarthosts && mxPrivate) return `every smarthost and ${resolvers} are on loopback or a private network`;
  if (smarthosts) return 'every smarthost is on loopback or a private network';
  if (mxPrivate) return `no smarthost configured; ${resolvers} are on loopback or a private network`;
  return 'no smarthost configured';
}
