/**
 * Direct delivery benchmark: N messages x R recipients over 7 domains served
 * by 3 MX host sets (bins), drained by one `bulkmailer flush` (the real
 * bin/) with routes *=mx, a DNS server on 127.0.0.1 and three SMTP sinks
 * (bench/smtp-sink.ts processes) on 127.0.0.2-4 sharing one port; then the
 * same spool content drained through one smarthost sink, for comparison.
 * Reports messages/s and the connections each sink saw.
 *
 *   npm run bench:mx -- --messages 2000 --recipients 5 --concurrency 20
 *
 * Each message's recipients span several domains, so it is one transaction
 * per bin it touches (about 3 here) in MX mode, and one in smarthost mode.
 */
import { startDnsServer, type Zone } from '../test/support/dns-server.js';
import { startSinkProcess, type SinkProcess } from './sink-process.js';
import { spoolAndFlush } from './spool-and-flush.js';
import { SPOOL_CONTENT, benchArgs, num } from './args.js';

const args = benchArgs('npm run bench:mx -- [options]', {
  messages: num(2000, 'messages in the spool'),
  ...SPOOL_CONTENT,
});
const { messages, recipients } = args;
const MX_HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const DOMAINS = Array.from({ length: 7 }, (_, i) => `d${i}.example.net`);

async function drain(mode: 'mx' | 'smarthost', config: Record<string, unknown>): Promise<number> {
  const { code, flushMs, rate } = await spoolAndFlush({
    config: { concurrency: args.concurrency, ...config },
    messages,
    size: args.size,
    recipientsOf: (i) => Array.from({ length: recipients }, (_, r) => `member${i % 500}-${r}@${DOMAINS[(i + r) % DOMAINS.length]}`),
  });
  console.log(`${mode}: flush exit ${code}, ${flushMs.toFixed(0)} ms => ${rate.toFixed(0)} msg/s`);
  return rate;
}

// The three MX sinks share one port (mx.port): the first picks it, the others take the same on their address.
let sinks: SinkProcess[] = [];
for (let tries = 0; sinks.length < MX_HOSTS.length && tries < 20; tries++) {
  sinks = [];
  try {
    for (const host of MX_HOSTS) sinks.push(await startSinkProcess(host, sinks[0]?.port ?? 0));
  } catch {
    await Promise.all(sinks.map((s) => s.stop()));
    sinks = [];
  }
}
const zone: Zone = {};
DOMAINS.forEach((domain, i) => {
  const host = i < 3 ? 'mxa' : i < 5 ? 'mxb' : 'mxc';
  zone[domain] = { ttl: 3600, mx: [{ preference: 10, exchange: `${host}.example.net` }] };
});
MX_HOSTS.forEach((address, i) => (zone[`mx${'abc'[i]}.example.net`] = { ttl: 3600, a: [address] }));
const dns = await startDnsServer(zone);

const mxRate = await drain('mx', {
  routes: '*=mx',
  mx: { resolvers: dns.address, port: sinks[0]!.port },
});
const perSink = await Promise.all(sinks.map((s) => s.stop()));
MX_HOSTS.forEach((host, i) =>
  console.log(
    `  ${host}: ${perSink[i]!.connections} connections, ${perSink[i]!.messages} transactions, ${perSink[i]!.recipients} recipients`,
  ),
);
await dns.close();

const smarthostSink = await startSinkProcess();
const smarthostRate = await drain('smarthost', { smarthost: `smtp://127.0.0.1:${smarthostSink.port}` });
const counts = await smarthostSink.stop();
console.log(`  127.0.0.1: ${counts.connections} connections, ${counts.messages} transactions, ${counts.recipients} recipients`);
console.log(
  `direct (MX) ${mxRate.toFixed(0)} msg/s vs smarthost ${smarthostRate.toFixed(0)} msg/s ` +
    `(${messages} x ${recipients} recipients, ${DOMAINS.length} domains, ${MX_HOSTS.length} MX hosts, concurrency ${args.concurrency}, node ${process.version})`,
);
