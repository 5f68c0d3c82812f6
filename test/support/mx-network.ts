/**
 * A small internet on loopback for direct delivery tests: SMTP sinks bound
 * to 127.0.0.2, 127.0.0.3, ... (all of 127/8 is loopback on Linux), all on
 * one port (given to bulkmailer as mx.port), and a DNS server on 127.0.0.1
 * whose zone points domains at them (mx.resolvers).
 */
import { startCaptureServer, type CaptureOptions, type CaptureServer } from './capture-server.js';
import { startDnsServer, type DnsServer, type Zone } from './dns-server.js';

export interface MxNetwork {
  dns: DnsServer;
  port: number;
  /** Sinks by address. */
  sinks: Map<string, CaptureServer>;
  sink(address: string): CaptureServer;
  /** The config keys that point bulkmailer at this network. */
  config: Record<string, unknown>;
  close(): Promise<void>;
}

export async function startMxNetwork(
  zone: Zone,
  sinkAddresses: readonly string[],
  options: (address: string) => CaptureOptions = () => ({}),
): Promise<MxNetwork> {
  const dns = await startDnsServer(zone);
  let sinks = new Map<string, CaptureServer>();
  for (let tries = 0; ; tries++) {
    sinks = new Map();
    try {
      let port = 0;
      for (const address of sinkAddresses) {
        const sink = await startCaptureServer({ ...options(address), host: address }, port);
        sinks.set(address, sink);
        port = sink.port;
      }
      break;
    } catch (err) {
      // The port the OS gave the first sink is taken on another address: start over.
      await Promise.all([...sinks.values()].map((s) => s.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries > 20) throw err;
    }
  }
  const port = [...sinks.values()][0]?.port ?? 25;
  return {
    dns,
    port,
    sinks,
    sink(address) {
      const sink = sinks.get(address);
      if (sink === undefined) throw new Error(`no sink on ${address}`);
      return sink;
    },
    config: {
      routes: '*=mx',
      heloName: 'bulk.test',
      mx: { resolvers: dns.address, port, dnsTimeout: '1s' },
      timeouts: { connect: '2s', greeting: '2s', probe: '2s' },
    },
    async close() {
      await Promise.all([dns.close(), ...[...sinks.values()].map((s) => s.close())]);
    },
  };
}
