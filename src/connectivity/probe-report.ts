/**
 * Every connectivity check at once, with timings, for `bulkmailer probe`
 * and `doctor`: the external interfaces, the internet (unless skipped: every
 * smarthost on loopback or a private network), and each smarthost in turn
 * (all of them, not just the first reachable one, so a broken fallback
 * shows up). Never throws; the probes are injectable for tests.
 */
import type { RuntimeConfig } from '../config/runtime.js';
import type { Smarthost } from '../config/smarthost.js';
import { externalAddresses, readInterfaces, type ExternalAddress, type ReadInterfaces } from './interfaces.js';
import { checkInternet, needsInternetCheck, needsNetwork, type IsOnlineFn } from './internet.js';
import { probeSmarthost, type ProbeResult } from './probe-smarthost.js';

export interface ProbeReport {
  interfaces: { ms: number; external: ExternalAddress[]; needed: boolean };
  internet:
    | { checked: true; online: boolean; ms: number; error: string | null }
    | { checked: false; skipped: string };
  smarthosts: ProbeResult[];
  /** The first reachable smarthost in order (display form), or null. */
  reachable: string | null;
}

export interface ProbeReportDeps {
  interfaces?: ReadInterfaces;
  isOnline?: IsOnlineFn;
  probe?: (smarthost: Smarthost) => Promise<ProbeResult>;
  internetTimeoutMs?: number;
}

export async function buildProbeReport(config: RuntimeConfig, deps: ProbeReportDeps = {}): Promise<ProbeReport> {
  const smarthosts = config.smarthosts;
  const t0 = performance.now();
  const external = externalAddresses((deps.interfaces ?? readInterfaces)());
  const interfaces = { ms: Math.round(performance.now() - t0), external, needed: needsNetwork(smarthosts) };

  let internet: ProbeReport['internet'];
  if (smarthosts.length === 0) {
    internet = { checked: false, skipped: 'no smarthost configured' };
  } else if (!needsInternetCheck(smarthosts)) {
    internet = { checked: false, skipped: 'every smarthost is on loopback or a private network' };
  } else {
    const result = await checkInternet({ timeoutMs: deps.internetTimeoutMs ?? 5_000, isOnline: deps.isOnline });
    internet = { checked: true, ...result };
  }

  const probe =
    deps.probe ??
    ((s: Smarthost) => probeSmarthost(s, { timeoutMs: config.timeouts.probeMs, tlsVerify: config.tlsVerify, tlsCa: config.tlsCa }));
  const results: ProbeResult[] = [];
  for (const smarthost of smarthosts) results.push(await probe(smarthost));
  const first = results.find((r) => r.reachable);
  return { interfaces, internet, smarthosts: results, reachable: first?.smarthost ?? null };
}
