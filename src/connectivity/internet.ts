/**
 * "Is the internet back?": the cheap signal the watcher asks before it
 * probes a smarthost on the internet, through `is-online` (which contacts
 * public services over HTTPS and DNS, in parallel, with a timeout).
 *
 * It is skipped, and never contacts anything, when every smarthost is on
 * loopback or on a private network (RFC 1918, CGNAT, link-local, ULA,
 * .local/.lan/.home.arpa/.internal names, single-label names): the internet
 * says nothing about those. Host names are not resolved (that would be a
 * network call of its own); a public name of a LAN host just gets checked.
 *
 * Never throws: an exception or a timeout from is-online is "offline".
 * Tests inject `isOnline` (the seam) so nothing leaves 127.0.0.1.
 */
import net from 'node:net';
import type { ResolverAddress } from '../config/resolvers.js';
import type { Smarthost } from '../config/smarthost.js';

export type IsOnlineFn = (options: { timeout: number; signal?: AbortSignal }) => Promise<boolean>;

export interface InternetCheckResult {
  online: boolean;
  ms: number;
  error: string | null;
}

/** is-online is loaded only when a check really runs (it pulls in several modules). */
const defaultIsOnline: IsOnlineFn = async (options) => {
  const { default: isOnline } = await import('is-online');
  return isOnline(options);
};

export async function checkInternet(
  options: { timeoutMs: number; signal?: AbortSignal; isOnline?: IsOnlineFn },
): Promise<InternetCheckResult> {
  const started = performance.now();
  const check = options.isOnline ?? defaultIsOnline;
  let timer: NodeJS.Timeout | undefined;
  try {
    // is-online has its own timeout; this one also covers a hung injected function.
    const online = await Promise.race([
      check({ timeout: options.timeoutMs, signal: options.signal }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), options.timeoutMs + 1000);
      }),
    ]);
    return { online, ms: Math.round(performance.now() - started), error: online ? null : 'no public service answered' };
  } catch (err) {
    return { online: false, ms: Math.round(performance.now() - started), error: (err as Error).message ?? String(err) };
  } finally {
    clearTimeout(timer);
  }
}

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inV4Range(address: string, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipv4ToInt(address) & mask) >>> 0) === ((ipv4ToInt(base) & mask) >>> 0);
}

const PRIVATE_V4: [string, number][] = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10], // carrier-grade NAT, Tailscale
  ['169.254.0.0', 16], // link-local
  ['127.0.0.0', 8],
];

const PRIVATE_SUFFIXES = ['.local', '.lan', '.home.arpa', '.internal', '.localhost', '.localdomain'];

/** Loopback, private-network address, or a name that only makes sense on a LAN. */
export function isPrivateNetworkHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (net.isIPv4(bare)) return PRIVATE_V4.some(([base, bits]) => inV4Range(bare, base, bits));
  if (net.isIPv6(bare)) {
    if (bare === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
    if (mapped) return isPrivateNetworkHost(mapped[1]!);
    return /^f[cd][0-9a-f]{2}:/.test(bare) || /^fe[89ab][0-9a-f]:/.test(bare);
  }
  if (bare === 'localhost' || !bare.includes('.')) return true;
  return PRIVATE_SUFFIXES.some((suffix) => bare.endsWith(suffix));
}

/**
 * Direct delivery's resolvers all on this machine or the LAN: is-online is
 * not asked for them (it would say nothing about them; src/flush/mx-transport.ts).
 */
export function resolversArePrivate(servers: readonly ResolverAddress[]): boolean {
  return servers.every((s) => isPrivateNetworkHost(s.host));
}

/** The internet check applies when some smarthost is on the internet. */
export function needsInternetCheck(smarthosts: readonly Smarthost[]): boolean {
  return smarthosts.some((s) => !s.loopback && !isPrivateNetworkHost(s.host));
}

/** An external interface is needed unless every smarthost is on this machine. */
export function needsNetwork(smarthosts: readonly Smarthost[]): boolean {
  return smarthosts.some((s) => !s.loopback);
}
