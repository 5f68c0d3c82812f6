/**
 * MX resolution against a real DNS server on 127.0.0.1 (UDP and TCP):
 * preference order, implicit MX, null MX, NXDOMAIN, SERVFAIL, silence,
 * truncation, and the TTL cache in memory and in the spool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startDnsServer, type Zone } from '../support/dns-server.js';
import { makeTempHome } from '../support/home.js';
import { openSpool, recordPath } from '../../src/spool/index.js';
import { queryDns, type RecordType } from '../../src/mx/dns-query.js';
import { hostSetKey, orderHosts, permanentReply, resolveMxAnswer, type MxHost } from '../../src/mx/resolve-mx.js';
import { MxCache } from '../../src/mx/mx-cache.js';
import { MxResolver } from '../../src/mx/mx-resolver.js';
import { resolversArePrivate } from '../../src/connectivity/internet.js';
import { parseResolvers } from '../../src/config/resolvers.js';

const ZONE: Zone = {
  'club.example': { ttl: 600, mx: [{ preference: 20, exchange: 'mx2.club.example' }, { preference: 10, exchange: 'mx1.club.example' }] },
  'mx1.club.example': { ttl: 900, a: ['127.0.0.2'] },
  'mx2.club.example': { ttl: 900, a: ['127.0.0.3'], aaaa: ['::1'] },
  'plain.example': { ttl: 120, a: ['127.0.0.4'] },
  'nomail.example': { mx: [{ preference: 0, exchange: '.' }] },
  'broken.example': { servfail: true },
  'lame.example': { mx: [{ preference: 10, exchange: 'gone.lame.example' }] },
  'text-only.example': {},
};

async function server(t: { after: (fn: () => Promise<void>) => void }, zone: Zone = ZONE) {
  const dns = await startDnsServer(structuredClone(zone));
  t.after(() => dns.close());
  const servers = parseResolvers(dns.address);
  const query = (name: string, type: RecordType) => queryDns(name, type, { servers, timeoutMs: 1000, tries: 1 });
  return { dns, servers, query };
}

test('MX hosts come sorted by preference with their addresses, IPv4 first; the TTL is the smallest', async (t) => {
  const { query } = await server(t);
  const answer = await resolveMxAnswer('Club.Example.', query);
  assert.equal(answer.kind, 'hosts');
  assert.ok(answer.kind === 'hosts');
  assert.deepEqual(
    answer.hosts.map((h) => [h.name, h.preference, h.addresses]),
    [
      ['mx1.club.example', 10, ['127.0.0.2']],
      ['mx2.club.example', 20, ['127.0.0.3', '::1']],
    ],
  );
  assert.equal(answer.implicit, false);
  // MX 600, A 900, and the NODATA answer for mx1's AAAA (SOA minimum 60).
  assert.equal(answer.ttl, 60);
  assert.equal(hostSetKey(answer.hosts), 'mx1.club.example,mx2.club.example');
});

test('no MX: the domain itself is the implicit MX (RFC 5321 5.1)', async (t) => {
  const { query } = await server(t);
  const answer = await resolveMxAnswer('plain.example', query);
  assert.ok(answer.kind === 'hosts');
  assert.deepEqual(answer.hosts, [{ name: 'plain.example', preference: 0, addresses: ['127.0.0.4'] }]);
  assert.equal(answer.implicit, true);
});

test('null MX, NXDOMAIN and a domain with no address are permanent; SERVFAIL and unresolvable MX hosts are temporary', async (t) => {
  const { query } = await server(t);
  const nullMx = await resolveMxAnswer('nomail.example', query);
  assert.equal(nullMx.kind, 'null-mx');
  assert.match(permanentReply('nomail.example', nullMx)!, /^556 5\.1\.10 /);
  const nx = await resolveMxAnswer('nowhere.example', query);
  assert.deepEqual(nx, { kind: 'nxdomain', ttl: 60 });
  assert.match(permanentReply('nowhere.example', nx)!, /^550 5\.1\.2 /);
  const empty = await resolveMxAnswer('text-only.example', query);
  assert.equal(empty.kind, 'no-address');
  assert.match(permanentReply('text-only.example', empty)!, /^550 5\.1\.2 /);
  const broken = await resolveMxAnswer('broken.example', query);
  assert.equal(broken.kind, 'temporary');
  assert.equal(permanentReply('broken.example', broken), null);
  assert.match((broken as { reason: string }).reason, /SERVFAIL/);
  const lame = await resolveMxAnswer('lame.example', query);
  assert.equal(lame.kind, 'temporary');
});

test('a domain literal needs no DNS', async (t) => {
  const { query, dns } = await server(t);
  const answer = await resolveMxAnswer('[127.0.0.9]', query);
  assert.ok(answer.kind === 'hosts');
  assert.deepEqual(answer.hosts[0]!.addresses, ['127.0.0.9']);
  assert.equal(dns.queries.length, 0);
});

test('a truncated UDP answer is asked again over TCP', async (t) => {
  const { query, dns } = await server(t);
  dns.udpLimit = 40;
  const answer = await resolveMxAnswer('club.example', query);
  assert.ok(answer.kind === 'hosts');
  assert.equal(answer.hosts.length, 2);
  assert.ok(dns.tcpQueries >= 1, 'the TCP path was used');
});

test('resolvers that do not answer throw E_DNS_UNREACHABLE (offline), never a domain failure', async (t) => {
  const { query, dns } = await server(t);
  dns.setSilent(true);
  await assert.rejects(
    resolveMxAnswer('club.example', (name, type) => query(name, type)),
    (err: Error & { code?: string }) => err.code === 'E_DNS_UNREACHABLE',
  );
  const resolver = new MxResolver({
    servers: parseResolvers(dns.address),
    timeoutMs: 200,
    cache: new MxCache(),
    now: Date.now,
  });
  assert.equal((await resolver.resolversAnswer()).answered, false);
  dns.setSilent(false);
  assert.equal((await resolver.resolversAnswer()).answered, true);
  // A closed port (ICMP unreachable) is an immediate failure too.
  await dns.close();
  await assert.rejects(resolver.resolve('club.example'), (err: Error & { code?: string }) => err.code === 'E_DNS_UNREACHABLE');
});

test('equal preferences are shuffled, lower preferences always first', () => {
  const hosts: MxHost[] = [
    { name: 'a', preference: 5, addresses: [] },
    { name: 'b', preference: 10, addresses: [] },
    { name: 'c', preference: 10, addresses: [] },
    { name: 'd', preference: 10, addresses: [] },
    { name: 'e', preference: 20, addresses: [] },
  ];
  const seen = new Set<string>();
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  for (let i = 0; i < 200; i++) {
    const order = orderHosts(hosts, random).map((h) => h.name);
    assert.equal(order[0], 'a');
    assert.equal(order[4], 'e');
    assert.deepEqual([...order.slice(1, 4)].sort(), ['b', 'c', 'd']);
    seen.add(order.join(''));
  }
  assert.equal(seen.size, 6, 'every order of the three equal MXs occurs');
});

test('the cache answers within the TTL, across flushes through the spool, and asks again after it', async (t) => {
  const { dns, servers } = await server(t);
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  let clock = 1_000_000;
  const now = () => clock;
  const first = new MxResolver({ servers, timeoutMs: 1000, cache: MxCache.load(spool, clock), now });
  await first.resolve('club.example');
  await first.resolve('nowhere.example');
  await first.resolve('broken.example');
  await Promise.all([first.resolve('plain.example'), first.resolve('plain.example')]);
  assert.equal(dns.count('club.example', 'MX'), 1);
  assert.equal(dns.count('plain.example', 'MX'), 1, 'concurrent questions share one lookup');
  await first.resolve('club.example');
  assert.equal(dns.count('club.example', 'MX'), 1, 'answered from memory');
  await first.cache.save(spool, clock);
  assert.equal(fs.statSync(recordPath(spool, 'mx-cache')).mode & 0o777, 0o600);

  // The next flush: a new process, the cache read back from the spool.
  clock += 30_000;
  const second = new MxResolver({ servers, timeoutMs: 1000, cache: MxCache.load(spool, clock), now });
  assert.equal((await second.resolve('club.example')).kind, 'hosts');
  assert.equal((await second.resolve('nowhere.example')).kind, 'nxdomain');
  assert.equal(dns.count('club.example', 'MX'), 1, 'positive answer from the spool');
  assert.equal(dns.count('nowhere.example', 'MX'), 1, 'negative answer from the spool');
  await second.resolve('broken.example');
  assert.equal(dns.count('broken.example', 'MX'), 2, 'temporary failures are not kept');

  // Past the TTL (60 s), DNS is asked again.
  clock += 31_000;
  const third = new MxResolver({ servers, timeoutMs: 1000, cache: MxCache.load(spool, clock), now });
  await third.resolve('club.example');
  assert.equal(dns.count('club.example', 'MX'), 2);
});

test('negative answers are capped, and the cache keeps at most maxEntries domains', () => {
  const cache = new MxCache({ maxTtlSec: 100, maxNegativeTtlSec: 10, maxEntries: 2 });
  cache.set('nx.example', { kind: 'nxdomain', ttl: 86_400 }, 0);
  assert.equal(cache.get('nx.example', 9_999)?.kind, 'nxdomain');
  assert.equal(cache.get('nx.example', 10_000), null);
  const hosts = { kind: 'hosts' as const, hosts: [], implicit: false, ttl: 1_000 };
  cache.set('a.example', { ...hosts, ttl: 50 }, 0);
  cache.set('b.example', { ...hosts, ttl: 5_000 }, 0);
  cache.set('c.example', { ...hosts, ttl: 70 }, 0);
  assert.equal(cache.size, 2);
  assert.equal(cache.get('a.example', 1), null, 'the soonest to expire went first');
  assert.equal(cache.get('b.example', 99_000)?.kind, 'hosts', 'positive TTL capped at 100 s');
  assert.equal(cache.get('b.example', 100_000), null);
});

test('mx.resolvers: host:port lists, IPv6, defaults to the system; bad entries are config errors', () => {
  assert.deepEqual(parseResolvers('127.0.0.1:5353, [::1]:53,192.0.2.1'), [
    { host: '127.0.0.1', port: 5353 },
    { host: '::1', port: 53 },
    { host: '192.0.2.1', port: 53 },
  ]);
  for (const server of parseResolvers(null)) assert.ok(net.isIP(server.host) && server.port > 0, 'the system resolvers parse');
  assert.throws(() => parseResolvers('dns.example:53'), (err: Error & { exitCode?: number }) => err.exitCode === 78);
  assert.throws(() => parseResolvers('127.0.0.1:99999'), /mx\.resolvers/);
  assert.equal(resolversArePrivate(parseResolvers('127.0.0.53, 192.168.1.1')), true);
  assert.equal(resolversArePrivate(parseResolvers('127.0.0.53, 9.9.9.9')), false);
});
