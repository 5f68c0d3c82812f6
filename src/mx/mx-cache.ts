/**
 * MX answers kept for as long as their TTL allows, in memory during a flush
 * and across flushes in the spool (records/mx-cache.json), so a cron flush
 * every five minutes does not ask DNS again for the same fifty domains.
 *
 * Positive answers keep their TTL up to `maxTtlSec`; negative answers (null
 * MX, NXDOMAIN, no address) up to `maxNegativeTtlSec` (RFC 2308 suggests a
 * few hours at most); temporary failures are never kept across flushes. At
 * most `maxEntries` domains are kept: the ones expiring soonest go first.
 *
 * A lost or unreadable cache file only costs queries. Not safe for two
 * writers: only the flusher, under the instance lock, saves it.
 */
import { readRecord, writeRecord, type Spool } from '../spool/index.js';
import type { MxAnswer } from './resolve-mx.js';

export interface MxCacheOptions {
  maxTtlSec: number;
  maxNegativeTtlSec: number;
  maxEntries: number;
}

export const DEFAULT_MX_CACHE_OPTIONS: MxCacheOptions = {
  maxTtlSec: 86_400,
  maxNegativeTtlSec: 3_600,
  maxEntries: 10_000,
};

interface CachedAnswer {
  answer: MxAnswer;
  /** ms since the epoch. */
  expiresAt: number;
}

const FILE_VERSION = 1;

export class MxCache {
  private readonly entries = new Map<string, CachedAnswer>();
  private dirty = false;

  constructor(private readonly options: MxCacheOptions = DEFAULT_MX_CACHE_OPTIONS) {}

  /** The spool's cache, without its expired answers. */
  static load(spool: Spool, now: number, options: MxCacheOptions = DEFAULT_MX_CACHE_OPTIONS): MxCache {
    const cache = new MxCache(options);
    const record = readRecord(spool, 'mx-cache') as { version?: number; domains?: Record<string, CachedAnswer> } | null;
    if (record?.version === FILE_VERSION && record.domains !== undefined && typeof record.domains === 'object') {
      for (const [domain, cached] of Object.entries(record.domains)) {
        if (isCachedAnswer(cached) && cached.expiresAt > now) cache.entries.set(domain, cached);
      }
    }
    return cache;
  }

  get(domain: string, now: number): MxAnswer | null {
    const cached = this.entries.get(domain);
    if (cached === undefined) return null;
    if (cached.expiresAt <= now) {
      this.entries.delete(domain);
      this.dirty = true;
      return null;
    }
    return cached.answer;
  }

  set(domain: string, answer: MxAnswer, now: number): void {
    const cap = answer.kind === 'hosts' ? this.options.maxTtlSec : this.options.maxNegativeTtlSec;
    const ttl = Math.min(Math.max(0, answer.ttl), cap);
    if (ttl === 0 || answer.kind === 'temporary') {
      if (this.entries.delete(domain)) this.dirty = true;
      return;
    }
    this.entries.set(domain, { answer, expiresAt: now + ttl * 1000 });
    this.dirty = true;
    if (this.entries.size > this.options.maxEntries) this.evict(now);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Writes the cache to the spool if it changed. */
  async save(spool: Spool, now: number): Promise<void> {
    if (!this.dirty) return;
    const domains: Record<string, CachedAnswer> = {};
    for (const [domain, cached] of this.entries) if (cached.expiresAt > now) domains[domain] = cached;
    await writeRecord(spool, 'mx-cache', { version: FILE_VERSION, domains });
    this.dirty = false;
  }

  private evict(now: number): void {
    for (const [domain, cached] of this.entries) if (cached.expiresAt <= now) this.entries.delete(domain);
    if (this.entries.size <= this.options.maxEntries) return;
    const bySoonest = [...this.entries].sort((a, b) => a[1].expiresAt - b[1].expiresAt);
    for (const [domain] of bySoonest.slice(0, this.entries.size - this.options.maxEntries)) this.entries.delete(domain);
  }
}

function isCachedAnswer(value: unknown): value is CachedAnswer {
  const v = value as CachedAnswer | null;
  return (
    v !== null &&
    typeof v === 'object' &&
    typeof v.expiresAt === 'number' &&
    typeof v.answer === 'object' &&
    v.answer !== null &&
    ['hosts', 'null-mx', 'nxdomain', 'no-address'].includes(v.answer.kind) &&
    (v.answer.kind !== 'hosts' || Array.isArray(v.answer.hosts))
  );
}
