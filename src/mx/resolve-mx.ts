/**
 * Where mail for a domain goes (RFC 5321 section 5.1), from DNS answers:
 *
 *   MX records        -> the hosts, by preference, each with its addresses
 *   no MX (NODATA)    -> the domain itself, preference 0 (the implicit MX)
 *   `MX 0 .`          -> null MX (RFC 7505): the domain takes no mail; bounce (5.1.10)
 *   NXDOMAIN          -> no such domain; bounce (5.1.2)
 *   SERVFAIL, ...     -> temporary: the recipients are deferred
 *
 * The answer carries the smallest TTL of the records it was built from (for
 * negative answers, the SOA's, RFC 2308), so the cache can keep it exactly
 * as long as DNS allows. Hosts are kept sorted by preference; the shuffle of
 * equal preferences happens each time the answer is used (orderHosts), so a
 * cached answer does not pin one order for its whole TTL.
 *
 * Throws only E_DNS_UNREACHABLE (no resolver answered): the caller treats
 * that as offline, never as a failure of the domain.
 */
import net from 'node:net';
import type { DnsQueryFn, DnsRecord, DnsResponse } from './dns-query.js';

export interface MxHost {
  /** The exchange's name (the domain itself for an implicit MX). */
  name: string;
  preference: number;
  /** IPv4 first, then IPv6: a host without IPv6 connectivity fails fast on the first. */
  addresses: string[];
}

export type MxAnswer =
  | { kind: 'hosts'; hosts: MxHost[]; implicit: boolean; ttl: number }
  | { kind: 'null-mx'; ttl: number }
  | { kind: 'nxdomain'; ttl: number }
  /** The domain exists but has neither MX nor address records: nowhere to deliver (permanent). */
  | { kind: 'no-address'; ttl: number }
  | { kind: 'temporary'; reason: string; ttl: number };

/** What a permanent answer means for its recipients, as an SMTP-like reply for the state and the DSN. */
export function permanentReply(domain: string, answer: MxAnswer): string | null {
  switch (answer.kind) {
    case 'null-mx':
      return `556 5.1.10 ${domain} does not accept mail (null MX, RFC 7505)`;
    case 'nxdomain':
      return `550 5.1.2 ${domain}: no such domain (NXDOMAIN)`;
    case 'no-address':
      return `550 5.1.2 ${domain} has no MX and no address records`;
    case 'hosts':
    case 'temporary':
      return null;
  }
}

/** Negative answers without an SOA are kept this long. */
const DEFAULT_NEGATIVE_TTL = 300;

export async function resolveMxAnswer(domain: string, query: DnsQueryFn): Promise<MxAnswer> {
  const name = domain.toLowerCase().replace(/\.$/, '');
  // A domain literal ([192.0.2.1]) is its own address, no DNS involved.
  const literal = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(name);
  if (literal !== null && net.isIP(literal[1]!)) {
    return { kind: 'hosts', hosts: [{ name, preference: 0, addresses: [literal[1]!] }], implicit: true, ttl: 86_400 };
  }
  const mx = await query(name, 'MX');
  if (mx.rcode === 'NXDOMAIN') return { kind: 'nxdomain', ttl: negativeTtl(mx) };
  if (mx.rcode !== 'NOERROR') return temporary(`MX ${name}: ${mx.rcode} from ${mx.server}`);
  const records = mx.answers.filter((r) => r.type === 'MX');
  if (records.length === 0) return implicitMx(name, query, negativeTtl(mx));

  const exchanges = records.map((r) => {
    const data = r.data as { preference: number; exchange: string };
    return { preference: data.preference, exchange: data.exchange.toLowerCase().replace(/\.$/, ''), ttl: r.ttl };
  });
  // RFC 7505 3: a null MX is the only MX, exchange ".", preference 0; any other MX beside it is ignored.
  const real = exchanges.filter((e) => e.exchange !== '');
  if (real.length === 0) return { kind: 'null-mx', ttl: minTtl(records) };
  real.sort((a, b) => a.preference - b.preference);

  let ttl = Math.min(...real.map((e) => e.ttl));
  const hosts: MxHost[] = [];
  const problems: string[] = [];
  for (const exchange of real) {
    const found = await hostAddresses(exchange.exchange, query);
    ttl = Math.min(ttl, found.ttl);
    if (found.problem !== null) problems.push(found.problem);
    if (found.addresses.length > 0) hosts.push({ name: exchange.exchange, preference: exchange.preference, addresses: found.addresses });
  }
  // An MX host without addresses is skipped (Postfix does the same); if none has any, wait:
  // MX names that do not resolve are usually a DNS change in progress.
  if (hosts.length === 0) return temporary(`no MX host of ${name} has an address${problems.length ? ` (${problems.join('; ')})` : ''}`);
  return { kind: 'hosts', hosts, implicit: false, ttl };
}

async function implicitMx(name: string, query: DnsQueryFn, nodataTtl: number): Promise<MxAnswer> {
  const found = await hostAddresses(name, query);
  if (found.addresses.length > 0) {
    return { kind: 'hosts', hosts: [{ name, preference: 0, addresses: found.addresses }], implicit: true, ttl: found.ttl };
  }
  if (found.problem !== null) return temporary(found.problem);
  if (found.nxdomain) return { kind: 'nxdomain', ttl: Math.min(nodataTtl, found.ttl) };
  return { kind: 'no-address', ttl: Math.min(nodataTtl, found.ttl) };
}

interface HostAddresses {
  addresses: string[];
  ttl: number;
  /** A temporary failure of one of the lookups. */
  problem: string | null;
  nxdomain: boolean;
}

async function hostAddresses(name: string, query: DnsQueryFn): Promise<HostAddresses> {
  if (net.isIP(name)) return { addresses: [name], ttl: 86_400, problem: null, nxdomain: false };
  const [a, aaaa] = [await query(name, 'A'), await query(name, 'AAAA')];
  const addresses: string[] = [];
  let ttl = Number.POSITIVE_INFINITY;
  let problem: string | null = null;
  for (const response of [a, aaaa]) {
    if (response.rcode === 'NOERROR') {
      const records = response.answers.filter((r) => r.type === 'A' || r.type === 'AAAA');
      for (const r of records) addresses.push(String(r.data));
      ttl = Math.min(ttl, records.length > 0 ? minTtl(records) : negativeTtl(response));
    } else if (response.rcode === 'NXDOMAIN') {
      ttl = Math.min(ttl, negativeTtl(response));
    } else {
      problem ??= `${name}: ${response.rcode} from ${response.server}`;
    }
  }
  return {
    addresses,
    ttl: Number.isFinite(ttl) ? ttl : DEFAULT_NEGATIVE_TTL,
    problem: addresses.length > 0 ? null : problem,
    nxdomain: a.rcode === 'NXDOMAIN',
  };
}

function minTtl(records: readonly DnsRecord[]): number {
  return Math.min(...records.map((r) => r.ttl));
}

/** RFC 2308 5: the negative TTL is the smaller of the SOA's TTL and its MINIMUM field. */
function negativeTtl(response: DnsResponse): number {
  const soa = response.authorities.find((r) => r.type === 'SOA');
  if (soa === undefined) return DEFAULT_NEGATIVE_TTL;
  const minimum = (soa.data as { minimum?: number }).minimum ?? soa.ttl;
  return Math.min(soa.ttl, minimum);
}

function temporary(reason: string): MxAnswer {
  // Temporary failures are not cached beyond this flush (ttl 0): the next flush asks again.
  return { kind: 'temporary', reason, ttl: 0 };
}

/**
 * The hosts in the order to try them: by preference, equal preferences
 * shuffled (RFC 5321 5.1: spreads the load over a domain's equal MXs).
 */
export function orderHosts(hosts: readonly MxHost[], random: () => number = Math.random): MxHost[] {
  const out: MxHost[] = [];
  let i = 0;
  while (i < hosts.length) {
    let j = i;
    while (j < hosts.length && hosts[j]!.preference === hosts[i]!.preference) j++;
    const group = hosts.slice(i, j);
    for (let k = group.length - 1; k > 0; k--) {
      const r = Math.floor(random() * (k + 1));
      [group[k], group[r]] = [group[r]!, group[k]!];
    }
    out.push(...group);
    i = j;
  }
  return out;
}

/** The identity of a destination: the set of its MX host names, whatever their order. */
export function hostSetKey(hosts: readonly MxHost[]): string {
  return [...new Set(hosts.map((h) => h.name))].sort().join(',');
}
