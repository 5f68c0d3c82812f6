/**
 * Doctor for direct delivery (when routes send some domain to `mx`):
 *
 *   mx.resolvers  the resolvers answer (mx.resolvers, or the system's)
 *   mx.port25     an MX can be reached on mx.port (25): a TCP connect and a
 *                 220 greeting from the MX of a domain routed to mx (the
 *                 first exact rule), else of gmail.com. Most home ISPs block
 *                 outbound port 25: a timeout there says so plainly.
 *   mx.ehlo       heloName is a fully qualified name that resolves: many MX
 *                 hosts refuse or score down anything else.
 *
 * Never throws; a check that cannot run is a skip with the reason.
 */
import type { RuntimeConfig } from '../config/runtime.js';
import { mxResolvers } from '../config/resolvers.js';
import { usesTransport } from '../config/routes.js';
import { probeSmarthost } from '../connectivity/probe-smarthost.js';
import { queryDns } from '../mx/dns-query.js';
import { MxCache } from '../mx/mx-cache.js';
import { MxResolver } from '../mx/mx-resolver.js';
import { orderHosts } from '../mx/resolve-mx.js';
import { fail, pass, skip, warn, type CheckResult } from './check.js';

/** A domain whose MX answers on port 25 from anywhere port 25 is open. */
const FALLBACK_PROBE_DOMAIN = 'gmail.com';

export function mxRouted(config: RuntimeConfig): boolean {
  return usesTransport(config.routes, 'mx');
}

export async function checkMx(config: RuntimeConfig): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let servers;
  try {
    servers = mxResolvers(config.mx.resolvers);
  } catch (err) {
    return [fail('mx.resolvers', 'DNS resolvers answer', (err as Error).message, 'set mx.resolvers to resolvers you can reach: bulkmailer config set mx.resolvers 1.1.1.1,9.9.9.9')];
  }
  const resolver = new MxResolver({ servers, timeoutMs: config.mx.dnsTimeoutMs, cache: new MxCache(), now: Date.now });
  const answer = await resolver.resolversAnswer();
  if (!answer.answered) {
    results.push(
      fail('mx.resolvers', 'DNS resolvers answer', answer.detail, 'check the network, or set mx.resolvers (bulkmailer config set mx.resolvers 1.1.1.1,9.9.9.9)'),
    );
    results.push(skip('mx.port25', `outbound port ${config.mx.port}`, 'no DNS'));
    results.push(skip('mx.ehlo', 'EHLO name', 'no DNS'));
    return results;
  }
  results.push(pass('mx.resolvers', 'DNS resolvers answer', answer.detail));
  results.push(await checkPort(config, resolver));
  results.push(await checkEhloName(config, servers));
  return results;
}

async function checkPort(config: RuntimeConfig, resolver: MxResolver): Promise<CheckResult> {
  const title = `outbound port ${config.mx.port} reachable`;
  const routed = [...config.routes.exact].filter(([, transport]) => transport === 'mx').map(([domain]) => domain);
  const domain = routed[0] ?? FALLBACK_PROBE_DOMAIN;
  let mx;
  try {
    mx = await resolver.resolve(domain);
  } catch (err) {
    return skip('mx.port25', title, `cannot resolve ${domain}: ${(err as Error).message}`);
  }
  if (mx.kind !== 'hosts') return skip('mx.port25', title, `${domain} has no MX to try (${mx.kind})`);
  const host = orderHosts(mx.hosts)[0]!;
  const address = host.addresses[0]!;
  const display = `${host.name}[${address}]:${config.mx.port}`;
  const probe = await probeSmarthost(
    { secure: false, host: address, port: config.mx.port, user: null, pass: null, loopback: false, display },
    { timeoutMs: config.timeouts.probeMs },
  );
  if (probe.reachable) return pass('mx.port25', title, `${display} (MX of ${domain}) greets: ${probe.greeting}`);
  const blocked = /no greeting within|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/.test(probe.error ?? '');
  return fail(
    'mx.port25',
    title,
    blocked
      ? `${display} (MX of ${domain}) did not answer (${probe.error}): outbound port ${config.mx.port} looks blocked by this network, as most home ISPs do`
      : `${display} (MX of ${domain}): ${probe.error}`,
    blocked
      ? 'direct delivery cannot work from here: route through a smarthost (bulkmailer config set routes "*=smarthost"), or ask the ISP to open port 25'
      : 'check the network; bulkmailer status shows destinations that are down',
  );
}

async function checkEhloName(config: RuntimeConfig, servers: Parameters<typeof queryDns>[2]['servers']): Promise<CheckResult> {
  const name = config.heloName;
  const title = `EHLO name ${name}`;
  const fix = 'set heloName to this machine\'s public name, one that resolves to its address and that its address resolves back to (reverse DNS): bulkmailer config set heloName mail.example.org';
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(name) || /\.(local|localdomain|lan|home\.arpa|internal)$/i.test(name)) {
    return warn('mx.ehlo', title, `${name} is not a public fully qualified name: many MX hosts refuse or mark down such mail`, fix);
  }
  try {
    const response = await queryDns(name, 'A', { servers, timeoutMs: config.mx.dnsTimeoutMs });
    const addresses = response.answers.filter((r) => r.type === 'A').map((r) => String(r.data));
    if (addresses.length === 0) return warn('mx.ehlo', title, `${name} does not resolve (${response.rcode})`, fix);
    return pass('mx.ehlo', title, `${name} resolves to ${addresses.join(', ')}`);
  } catch (err) {
    return skip('mx.ehlo', title, (err as Error).message);
  }
}
