/**
 * MTA-STS (RFC 8461): a domain's published promise that its MX hosts take
 * mail over TLS with certificates valid for their names. With `mx.tls
 * mta-sts`, direct delivery asks each recipient domain for its policy:
 *
 *   1. TXT `_mta-sts.DOMAIN`: exactly one `v=STSv1; id=...` record says a
 *      policy exists, and its id says whether the cached copy is current;
 *   2. the policy itself, over HTTPS with a verified certificate, from
 *      https://mta-sts.DOMAIN/.well-known/mta-sts.txt (no redirects, at
 *      most 64 KiB): `version`, `mode` (enforce, testing, none), `mx`
 *      patterns and `max_age`;
 *   3. kept in the spool (records/mta-sts.json) until max_age runs out.
 *
 * As section 5.1 asks, a cached policy still in force is used when DNS or
 * the HTTPS fetch fails (an attacker who blocks them cannot downgrade us),
 * and a domain with neither record nor cache has no policy (opportunistic
 * TLS as for any other domain). What `enforce` means for delivery (only
 * matching MX hosts, verified TLS required) is decided in mx-plan.ts and
 * deliver-mx.ts; `testing` and `none` change nothing here.
 */
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { readRecord, writeRecord, type Spool } from '../spool/index.js';
import type { DnsQueryFn } from './dns-query.js';

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  /** The TXT record's id this policy was fetched under. */
  id: string;
  mode: StsMode;
  /** MX host patterns: `mx.example.net` or `*.example.net` (one left-most label). */
  mx: string[];
  maxAgeSec: number;
}

/** Section 3.2: max_age is at most 31557600 s (one year). */
const MAX_AGE_LIMIT_SEC = 31_557_600;
/** Section 3.3: senders may refuse larger policy bodies. */
const MAX_POLICY_BYTES = 64 * 1024;

/** The policy id of a domain's TXT records, or null when there is not exactly one valid STSv1 record (section 3.1). */
export function parseStsRecord(records: readonly string[]): string | null {
  const sts = records.filter((r) => /^v=STSv1(;|$)/.test(r.trim()));
  if (sts.length !== 1) return null;
  let id: string | null = null;
  for (const field of sts[0]!.split(';')) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    if (field.slice(0, eq).trim() === 'id') id = field.slice(eq + 1).trim();
  }
  return id !== null && /^[A-Za-z0-9]{1,32}$/.test(id) ? id : null;
}

/** Parses a policy body (section 3.2); throws an Error saying what is wrong. */
export function parseStsPolicy(text: string, id: string): StsPolicy {
  let version: string | null = null;
  let mode: string | null = null;
  let maxAge: string | null = null;
  const mx: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'version') version = value;
    else if (key === 'mode') mode = value;
    else if (key === 'max_age') maxAge = value;
    else if (key === 'mx') mx.push(value.toLowerCase().replace(/\.$/, ''));
  }
  if (version !== 'STSv1') throw new Error(`version is ${version === null ? 'missing' : `"${version}"`}, not STSv1`);
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') throw new Error(`mode "${mode ?? ''}" is not enforce, testing or none`);
  if (maxAge === null || !/^[0-9]{1,10}$/.test(maxAge)) throw new Error('max_age is missing or not a number of seconds');
  if (mode !== 'none' && mx.length === 0) throw new Error('no mx patterns');
  return { id, mode, mx, maxAgeSec: Math.min(Number(maxAge), MAX_AGE_LIMIT_SEC) };
}

/** Section 4.1: exact names, or `*.parent` matching exactly one more left-most label; case does not matter. */
export function mxMatchesPolicy(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((pattern) => {
    if (!pattern.startsWith('*.')) return name === pattern;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
  });
}

export interface PolicyFetchOptions {
  /** 443; another only for tests (mx.mtaStsPort). */
  port: number;
  timeoutMs: number;
  /** Extra trusted CA certificates (tls.caFile); null: the system's. */
  ca: string | null;
  /** Resolves the policy host through the flush's resolvers, not the system's. */
  lookup: LookupFunction;
}

/** Fetches a domain's policy body: HTTPS, certificate verified for mta-sts.DOMAIN, 200 only, text/plain, bounded. */
export function fetchStsPolicy(domain: string, options: PolicyFetchOptions): Promise<string> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve, reject) => {
    const request = https.get(
      {
        host,
        servername: host,
        port: options.port,
        path: '/.well-known/mta-sts.txt',
        lookup: options.lookup,
        rejectUnauthorized: true,
        ...(options.ca !== null ? { ca: options.ca } : {}),
        timeout: options.timeoutMs,
        headers: { accept: 'text/plain' },
      },
      (response) => {
        // Section 3.3: redirects are not followed; anything but 200 is no policy.
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`${host} answered HTTP ${response.statusCode}`));
          return;
        }
        if (!/^text\/plain\b/i.test(response.headers['content-type'] ?? '')) {
          response.resume();
          reject(new Error(`${host} sent ${response.headers['content-type'] ?? 'no content type'}, not text/plain`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_POLICY_BYTES) {
            request.destroy(new Error(`${host} sent a policy larger than ${MAX_POLICY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${host} did not answer within ${options.timeoutMs}ms`)));
    request.on('error', reject);
  });
}

interface CachedPolicy {
  policy: StsPolicy;
  /** ms since the epoch. */
  expiresAt: number;
}

const FILE_VERSION = 1;

export interface MtaStsOptions {
  query: DnsQueryFn;
  fetch: (domain: string) => Promise<string>;
  now: () => number;
  /** A policy that could not be had (DNS, HTTPS, a bad body): said, not fatal. */
  onProblem: (domain: string, problem: string) => void;
}

/** Policies for the flush: cache first (while the TXT id stays the same), else DNS and HTTPS. */
export class MtaStsPolicies {
  private readonly cached = new Map<string, CachedPolicy>();
  private readonly inFlight = new Map<string, Promise<StsPolicy | null>>();
  private dirty = false;

  private constructor(private readonly options: MtaStsOptions) {}

  static load(spool: Spool, options: MtaStsOptions): MtaStsPolicies {
    const policies = new MtaStsPolicies(options);
    const record = readRecord(spool, 'mta-sts') as { version?: number; domains?: Record<string, CachedPolicy> } | null;
    if (record?.version === FILE_VERSION && typeof record.domains === 'object' && record.domains !== null) {
      const now = options.now();
      for (const [domain, entry] of Object.entries(record.domains)) {
        if (typeof entry?.expiresAt === 'number' && entry.expiresAt > now && typeof entry.policy?.id === 'string') {
          policies.cached.set(domain, entry);
        }
      }
    }
    return policies;
  }

  /** The policy in force for a domain, or null when it has none (or only `none`). */
  policyFor(domain: string): Promise<StsPolicy | null> {
    const key = domain.toLowerCase().replace(/\.$/, '');
    let pending = this.inFlight.get(key);
    if (pending === undefined) {
      pending = this.lookUp(key).then((policy) => (policy?.mode === 'none' ? null : policy));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async lookUp(domain: string): Promise<StsPolicy | null> {
    const now = this.options.now();
    const entry = this.cached.get(domain);
    const cached = entry !== undefined && entry.expiresAt > now ? entry.policy : null;
    let id: string | null;
    try {
      const response = await this.options.query(`_mta-sts.${domain}`, 'TXT');
      id = parseStsRecord(response.answers.filter((a) => a.type === 'TXT').map((a) => txtString(a.data)));
    } catch (err) {
      if (cached === null) this.options.onProblem(domain, `no MTA-STS record: ${(err as Error).message}`);
      return cached;
    }
    // No record but a policy in force: keep to it until max_age (section 5.1).
    if (id === null || cached?.id === id) return cached;
    try {
      const policy = parseStsPolicy(await this.options.fetch(domain), id);
      this.cached.set(domain, { policy, expiresAt: now + policy.maxAgeSec * 1000 });
      this.dirty = true;
      return policy;
    } catch (err) {
      this.options.onProblem(domain, `MTA-STS policy not fetched: ${(err as Error).message}${cached !== null ? '; the cached one stays in force' : ''}`);
      return cached;
    }
  }

  async save(spool: Spool): Promise<void> {
    if (!this.dirty) return;
    const now = this.options.now();
    const domains = Object.fromEntries([...this.cached].filter(([, e]) => e.expiresAt > now));
    await writeRecord(spool, 'mta-sts', { version: FILE_VERSION, domains });
    this.dirty = false;
  }
}

/** dns-packet gives a TXT record as one Buffer or several (255-byte strings joined, RFC 7208 style). */
function txtString(data: unknown): string {
  const parts = Array.isArray(data) ? data : [data];
  return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join('');
}

/** A `lookup` for node's https that asks the flush's resolvers (mx.resolvers) for the host's IPv4 address. */
export function lookupThrough(query: DnsQueryFn): LookupFunction {
  return (hostname, options, callback) => {
    query(hostname, 'A').then(
      (response) => {
        const address = response.answers.find((a) => a.type === 'A')?.data;
        if (typeof address !== 'string') {
          const err: NodeJS.ErrnoException = new Error(`${hostname} has no address (${response.rcode})`);
          err.code = 'ENOTFOUND';
          callback(err, '', 4);
        } else if (options.all) {
          (callback as unknown as (err: null, all: { address: string; family: number }[]) => void)(null, [{ address, family: 4 }]);
        } else {
          callback(null, address, 4);
        }
      },
      (err: Error) => callback(err, '', 4),
    );
  };
}
