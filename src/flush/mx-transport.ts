/**
 * The `mx` transport of a flush (direct delivery): set up once per flush,
 * then one pass per flush pass, then its cache and health records saved.
 *
 * Online in MX mode means the resolvers answer (issue 9 item 4), and, when
 * they are on the internet, is-online agrees (a captive portal answers DNS
 * and carries no mail); is-online is not asked for resolvers on loopback or
 * the LAN. Offline, nothing is attempted or counted (promise 4).
 *
 * With mx.tls mta-sts it also keeps the domains' MTA-STS policies
 * (src/mx/mta-sts.ts) for the planner, fetched through the same resolvers.
 */
import type { RuntimeConfig } from '../config/runtime.js';
import { mxResolvers } from '../config/resolvers.js';
import { checkInternet, resolversArePrivate, type IsOnlineFn } from '../connectivity/internet.js';
import { BulkmailerError } from '../errors.js';
import { MxCache } from '../mx/mx-cache.js';
import { MxResolver } from '../mx/mx-resolver.js';
import { queryDns, type DnsQueryFn } from '../mx/dns-query.js';
import { fetchStsPolicy, lookupThrough, MtaStsPolicies } from '../mx/mta-sts.js';
import type { Spool } from '../spool/index.js';
import type { EntryState } from '../model/entry-state.js';
import type { BatchCallbacks } from '../delivery/deliver-batch.js';
import { DestinationHealth } from '../delivery/destination-health.js';
import type { MxWork } from '../delivery/mx-plan.js';

export type MxSetup = { online: true; transport: MxTransport } | { online: false; detail: string };

export interface MxPassResult {
  fatal: unknown;
  /** The resolvers stopped answering during planning: the rest of the run is offline for mx. */
  offline: boolean;
  connections: number;
}

export class MxTransport {
  connections = 0;

  private constructor(
    private readonly spool: Spool,
    private readonly config: RuntimeConfig,
    private readonly resolver: MxResolver,
    readonly health: DestinationHealth,
    private readonly now: () => number,
    private readonly policies: MtaStsPolicies | null,
    /** Why a domain's MTA-STS policy could not be had, said at the next pass. */
    private readonly policyProblems: string[],
  ) {}

  static async prepare(spool: Spool, config: RuntimeConfig, now: () => number, isOnline?: IsOnlineFn): Promise<MxSetup> {
    const servers = mxResolvers(config.mx.resolvers);
    const query: DnsQueryFn = (name, type) => queryDns(name, type, { servers, timeoutMs: config.mx.dnsTimeoutMs });
    const resolver = new MxResolver({ servers, timeoutMs: config.mx.dnsTimeoutMs, cache: MxCache.load(spool, now()), now, query });
    const probe = await resolver.resolversAnswer();
    if (!probe.answered) return { online: false, detail: `DNS resolvers do not answer: ${probe.detail}` };
    if (!resolversArePrivate(servers)) {
      const internet = await checkInternet({ timeoutMs: config.timeouts.probeMs, isOnline });
      if (!internet.online) return { online: false, detail: `the internet is not reachable: ${internet.error ?? 'offline'}` };
    }
    const problems: string[] = [];
    const policies = config.mx.mtaSts
      ? MtaStsPolicies.load(spool, {
          query,
          fetch: (domain) =>
            fetchStsPolicy(domain, {
              port: config.mx.mtaStsPort,
              timeoutMs: config.timeouts.connectMs,
              ca: config.tlsCa,
              lookup: lookupThrough(query),
            }),
          now,
          onProblem: (domain, problem) => problems.push(`${domain}: ${problem}`),
        })
      : null;
    const health = DestinationHealth.load(spool);
    return { online: true, transport: new MxTransport(spool, config, resolver, health, now, policies, problems) };
  }

  async runPass(
    work: readonly MxWork[],
    attempted: Map<string, Set<string>>,
    stopping: () => boolean,
    callbacks: BatchCallbacks,
    /** States the plan read, taken by each entry's delivery as account batches take theirs (EntryDeliveryContext.plannedStates). */
    plannedStates?: Map<string, EntryState>,
  ): Promise<MxPassResult> {
    const { planMxBins } = await import('../delivery/mx-plan.js');
    const { deliverMxBatch } = await import('../delivery/deliver-mx.js');
    let plan;
    try {
      const policies = this.policies;
      plan = await planMxBins(
        work,
        (domain) => this.resolver.resolve(domain),
        this.health,
        this.now(),
        policies === null ? undefined : (domain) => policies.policyFor(domain),
      );
      for (const problem of this.policyProblems.splice(0)) callbacks.onWarning(problem);
    } catch (err) {
      if (err instanceof BulkmailerError && err.code === 'E_DNS_UNREACHABLE') {
        callbacks.onWarning(err.message);
        return { fatal: null, offline: true, connections: 0 };
      }
      return { fatal: err, offline: false, connections: 0 };
    }
    for (const wait of plan.waiting) {
      callbacks.onWarning(
        `destination ${wait.key} is down until ${wait.down.until} (${wait.down.reason}); ${wait.recipients} recipients wait`,
      );
    }
    const batch = await deliverMxBatch(
      {
        spool: this.spool,
        config: this.config,
        health: this.health,
        now: this.now,
        // Each entry's bins take only the recipients planned for them (MxBin.recipients: the ones counted as waiting).
        plannedStates,
      },
      plan.bins,
      attempted,
      stopping,
      callbacks,
    );
    this.connections += batch.connections;
    return { fatal: batch.fatal, offline: false, connections: batch.connections };
  }

  /** Saves the MX cache and the destinations' health (facts about the network; losing them costs queries). */
  async finish(): Promise<void> {
    await this.resolver.cache.save(this.spool, this.now());
    await this.health.save(this.spool);
    await this.policies?.save(this.spool);
  }
}
