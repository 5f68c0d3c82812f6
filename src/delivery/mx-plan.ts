/**
 * Planning direct delivery: the due recipient domains of each entry,
 * resolved (cache first), grouped into one bin per destination, the set of
 * MX hosts that serves a domain (many domains share one: a bin for Google's
 * hosts takes gmail.com and every domain hosted there). Domains DNS has
 * already decided go to the DNS bin: null MX and NXDOMAIN fail at once
 * (5.1.10, 5.1.2), temporary DNS failures defer.
 *
 * Destinations that are down (DestinationHealth) get no bin: their entries
 * wait, counted in `waiting`. E_DNS_UNREACHABLE (no resolver answers) is
 * thrown through: the caller treats it as offline.
 */
import { domainOf } from '../model/address.js';
import type { RecipientOutcome } from '../model/transitions.js';
import { hostSetKey, permanentReply, type MxAnswer } from '../mx/resolve-mx.js';
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
): Promise<MxPlan> {
  const domains = [...new Set(work.flatMap((w) => w.recipients.map(domainOf)))];
  const answers = new Map<string, MxAnswer>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(LOOKUP_PARALLELISM, domains.length) }, async () => {
      for (let domain = domains[next++]; domain !== undefined; domain = domains[next++]) answers.set(domain, await resolve(domain));
    }),
  );

  const bins = new Map<string, MxBin & { entries: string[]; domains: Set<string> }>();
  const waiting = new Map<string, MxPlan['waiting'][number]>();
  const dnsOutcomes = new Map<string, Omit<RecipientOutcome, 'address'>>();
  for (const [domain, answer] of answers) {
    if (answer.kind !== 'hosts') {
      const reply = permanentReply(domain, answer);
      dnsOutcomes.set(
        domain,
        reply !== null
          ? { kind: 'failed', reply }
          : { kind: 'deferred', reply: `451 4.4.3 ${answer.kind === 'temporary' ? answer.reason : 'DNS'}` },
      );
    }
  }
  const binOf = (domain: string): string => {
    const answer = answers.get(domain)!;
    return answer.kind === 'hosts' ? hostSetKey(answer.hosts) : DNS_BIN;
  };

  const dnsBin = () => {
    let bin = bins.get(DNS_BIN);
    if (bin === undefined) {
      bin = { key: DNS_BIN, hosts: [], domains: new Set(), entries: [], answer: (a) => ({ address: a, ...dnsOutcomes.get(domainOf(a))! }) };
      bins.set(DNS_BIN, bin);
    }
    return bin;
  };
  for (const w of work) {
    // Nothing due but a bounce to queue (a crash came between the two): no connection needed.
    if (w.recipients.length === 0) dnsBin().entries.push(w.id);
    const seen = new Set<string>();
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
        const answer = answers.get(domain)!;
        bin = { key, hosts: answer.kind === 'hosts' ? answer.hosts : [], domains: new Set(), entries: [] };
        bins.set(key, bin);
      }
      bin.domains.add(domain);
      if (!seen.has(key)) {
        seen.add(key);
        bin.entries.push(w.id);
      }
    }
  }
  // The DNS bin first: its outcomes need no connection and free entries for the others.
  const ordered = [...bins.values()].sort((a, b) => Number(b.key === DNS_BIN) - Number(a.key === DNS_BIN));
  return { bins: ordered, waiting: [...waiting.values()] };
}
