/**
 * Planning direct delivery: the due recipient domains of each entry,
 * resolved (cache first), grouped into one bin per destination, the set of
 * MX hosts that serves a domain (many domains share one: a bin for Google's
 * hosts takes gmail.com and every domain hosted there). Domains DNS has
 * already decided go to the DNS bin: null MX and NXDOMAIN fail at once
 * (5.1.10, 5.1.2), temporary DNS failures defer.
 *
 * With MTA-STS (mx.tls mta-sts), a domain whose policy is in enforce mode
 * keeps only the MX hosts the policy names, and its bin requires verified
 * TLS (its key says "(MTA-STS)", so it never shares a connection with a
 * domain that does not ask for it); a policy that names none of the
 * domain's MX hosts defers its recipients (RFC 8461 section 5).
 *
 * Destinations that are down (DestinationHealth) get no bin: their entries
 * wait, counted in `waiting`. E_DNS_UNREACHABLE (no resolver answers) is
 * thrown through: the caller treats it as offline.
 */
import { domainOf } from '../model/address.js';
import type { RecipientOutcome } from '../model/transitions.js';
import { hostSetKey, permanentReply, type MxAnswer, type MxHost } from '../mx/resolve-mx.js';
import { mxMatchesPolicy, type StsPolicy } from '../mx/mta-sts.js';
import type { DestinationDown, DestinationHealth } from './destination-health.js';
import type { MxBin } from './deliver-mx.js';

export interface MxWork {
  id: string;
  /** Due recipients routed to `mx`. */
  recipients: readonly string[];
}

export interface MxPlan {
  bins: MxBin[];
  /** Destinations down, with how many of this run's due recipients wait for them. */
  waiting: { key: string; recipients: number; down: DestinationDown }[];
}

export const DNS_BIN = 'dns';

/** Lookups in flight at once while planning. */
const LOOKUP_PARALLELISM = 8;

export async function planMxBins(
  work: readonly MxWork[],
  resolve: (domain: string) => Promise<MxAnswer>,
  health: DestinationHealth,
  now: number,
  /** MTA-STS policies (mx.tls mta-sts); absent: none asked for. */
  policyOf?: (domain: string) => Promise<StsPolicy | null>,
): Promise<MxPlan> {
  const domains = [...new Set(work.flatMap((w) => w.recipients.map(domainOf)))];
  const answers = new Map<string, MxAnswer>();
  const policies = new Map<string, StsPolicy>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(LOOKUP_PARALLELISM, domains.length) }, async () => {
      for (let domain = domains[next++]; domain !== undefined; domain = domains[next++]) {
        const answer = await resolve(domain);
        answers.set(domain, answer);
        const policy = answer.kind === 'hosts' && policyOf !== undefined ? await policyOf(domain) : null;
        if (policy?.mode === 'enforce') policies.set(domain, policy);
      }
    }),
  );

  const bins = new Map<string, Omit<MxBin, 'recipients'> & { recipients: Map<string, string[]> }>();
  const waiting = new Map<string, MxPlan['waiting'][number]>();
  const dnsOutcomes = new Map<string, Omit<RecipientOutcome, 'address'>>();
  /** Where each domain's mail goes: a destination (its MX hosts), or the DNS bin. */
  const destinations = new Map<string, { key: string; hosts: readonly MxHost[]; requireTls: boolean }>();
  for (const [domain, answer] of answers) {
    if (answer.kind !== 'hosts') {
      const reply = permanentReply(domain, answer);
      dnsOutcomes.set(
        domain,
        reply !== null
          ? { kind: 'failed', reply }
          : { kind: 'deferred', reply: `451 4.4.3 ${answer.kind === 'temporary' ? answer.reason : 'DNS'}` },
      );
      continue;
    }
    const policy = policies.get(domain);
    if (policy === undefined) {
      destinations.set(domain, { key: hostSetKey(answer.hosts), hosts: answer.hosts, requireTls: false });
      continue;
    }
    const hosts = answer.hosts.filter((h) => mxMatchesPolicy(h.name, policy.mx));
    if (hosts.length === 0) {
      dnsOutcomes.set(domain, {
        kind: 'deferred',
        reply: `451 4.7.5 the MTA-STS policy of ${domain} (mx: ${policy.mx.join(', ')}) names none of its MX hosts`,
      });
      continue;
    }
    destinations.set(domain, { key: `${hostSetKey(hosts)} (MTA-STS)`, hosts, requireTls: true });
  }
  const binOf = (domain: string): string => destinations.get(domain)?.key ?? DNS_BIN;

  const dnsBin = () => {
    let bin = bins.get(DNS_BIN);
    if (bin === undefined) {
      bin = { key: DNS_BIN, hosts: [], entries: [], recipients: new Map(), answer: (a) => ({ address: a, ...dnsOutcomes.get(domainOf(a))! }) };
      bins.set(DNS_BIN, bin);
    }
    return bin;
  };
  for (const w of work) {
    // Nothing due but a bounce to queue (a crash came between the two): no connection needed.
    if (w.recipients.length === 0) {
      const bin = dnsBin();
      bin.entries.push(w.id);
      bin.recipients.set(w.id, []);
    }
    for (const address of w.recipients) {
      const domain = domainOf(address);
      const key = binOf(domain);
      const isDown = key === DNS_BIN ? null : health.downNow(key, now);
      if (isDown !== null) {
        const wait = waiting.get(key) ?? { key, recipients: 0, down: isDown };
        wait.recipients++;
        waiting.set(key, wait);
        continue;
      }
      let bin = key === DNS_BIN ? dnsBin() : bins.get(key);
      if (bin === undefined) {
        const destination = destinations.get(domain)!;
        bin = { key, hosts: destination.hosts, entries: [], recipients: new Map(), requireTls: destination.requireTls };
        bins.set(key, bin);
      }
      const taken = bin.recipients.get(w.id);
      if (taken !== undefined) taken.push(address);
      else {
        bin.recipients.set(w.id, [address]);
        bin.entries.push(w.id);
      }
    }
  }
  // The DNS bin first: its outcomes need no connection and free entries for the others.
  const ordered = [...bins.values()].sort((a, b) => Number(b.key === DNS_BIN) - Number(a.key === DNS_BIN));
  return { bins: ordered, waiting: [...waiting.values()] };
}
