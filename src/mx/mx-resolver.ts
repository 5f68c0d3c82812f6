/**
 * MX answers for the flush: from the cache when fresh, else from the
 * resolvers (`mx.resolvers`, or the system's as node reads them from
 * /etc/resolv.conf), stored back in the cache. Concurrent questions about
 * one domain share one lookup.
 *
 * "Are we online?" in MX mode is "do the resolvers answer?" (a question
 * about the root zone, which any resolver answers in one packet); for
 * resolvers on the internet, is-online is asked as well, since a captive
 * portal answers DNS but carries no mail. Throws E_DNS_UNREACHABLE only
 * from resolve(), when no resolver answered.
 */
import type { ResolverAddress } from '../config/resolvers.js';
import { queryDns, type DnsQueryFn } from './dns-query.js';
import type { MxCache } from './mx-cache.js';
import { resolveMxAnswer, type MxAnswer } from './resolve-mx.js';

export interface MxResolverOptions {
  servers: readonly ResolverAddress[];
  timeoutMs: number;
  cache: MxCache;
  now: () => number;
  /** A seam for tests; defaults to queryDns over `servers`. */
  query?: DnsQueryFn;
}

export class MxResolver {
  private readonly inFlight = new Map<string, Promise<MxAnswer>>();
  private readonly query: DnsQueryFn;

  constructor(private readonly options: MxResolverOptions) {
    this.query = options.query ?? ((name, type) => queryDns(name, type, { servers: options.servers, timeoutMs: options.timeoutMs }));
  }

  get cache(): MxCache {
    return this.options.cache;
  }

  resolve(domain: string): Promise<MxAnswer> {
    const key = domain.toLowerCase().replace(/\.$/, '');
    const cached = this.options.cache.get(key, this.options.now());
    if (cached !== null) return Promise.resolve(cached);
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = resolveMxAnswer(key, this.query)
        .then((answer) => {
          this.options.cache.set(key, answer, this.options.now());
          return answer;
        })
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  /** True when some resolver answers a question at all (any rcode but SERVFAIL/REFUSED). */
  async resolversAnswer(): Promise<{ answered: boolean; detail: string }> {
    try {
      const response = await this.query('.', 'NS');
      const answered = response.rcode !== 'SERVFAIL' && response.rcode !== 'REFUSED';
      return { answered, detail: `${response.server} answered ${response.rcode}` };
    } catch (err) {
      return { answered: false, detail: (err as Error).message };
    }
  }
}
