/**
 * One DNS question to the configured resolvers, answered with the raw
 * records and their TTLs: UDP first, TCP when the answer comes back
 * truncated (RFC 7766), each resolver in order until one answers.
 *
 * Why not node's dns.promises.Resolver: resolveMx gives no TTL (only
 * resolve4/resolve6 take {ttl: true}, and resolveAny asks for ANY, which
 * many resolvers refuse, RFC 8482), and it folds NXDOMAIN and NODATA into
 * error codes without the SOA that carries the negative TTL (RFC 2308).
 * The MX cache needs both, so the packets are built and read here with
 * dns-packet (already in the tree under is-online).
 *
 * A resolver that answers with any rcode has answered: SERVFAIL is an
 * answer (a temporary failure of that name). Only when no resolver answers
 * at all does this throw E_DNS_UNREACHABLE: in MX mode that is "offline".
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { BulkmailerError, ExitCode } from '../errors.js';
import type { ResolverAddress } from '../config/resolvers.js';

export type RecordType = 'MX' | 'A' | 'AAAA' | 'NS' | 'TXT';

export interface DnsRecord {
  type: string;
  name: string;
  ttl: number;
  data: unknown;
}

export interface DnsResponse {
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED... */
  rcode: string;
  answers: DnsRecord[];
  authorities: DnsRecord[];
  /** The resolver that answered, "host:port". */
  server: string;
}

export interface QueryOptions {
  servers: readonly ResolverAddress[];
  /** Per try; each server gets `tries` tries. */
  timeoutMs: number;
  tries?: number;
}

export type DnsQueryFn = (name: string, type: RecordType) => Promise<DnsResponse>;

export function dnsUnreachable(detail: string): BulkmailerError {
  return new BulkmailerError('E_DNS_UNREACHABLE', `no DNS resolver answered: ${detail}`, { exitCode: ExitCode.tempFail });
}

export async function queryDns(name: string, type: RecordType, options: QueryOptions): Promise<DnsResponse> {
  const tries = options.tries ?? 2;
  const problems: string[] = [];
  for (let round = 0; round < tries; round++) {
    for (const server of options.servers) {
      const label = formatResolver(server);
      try {
        let response = await queryUdp(server, name, type, options.timeoutMs);
        if ((response.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) response = await queryTcp(server, name, type, options.timeoutMs);
        return {
          rcode: (response as { rcode?: string }).rcode ?? 'NOERROR',
          answers: (response.answers ?? []) as DnsRecord[],
          authorities: (response.authorities ?? []) as DnsRecord[],
          server: label,
        };
      } catch (err) {
        problems.push(`${label}: ${(err as Error).message}`);
      }
    }
  }
  throw dnsUnreachable([...new Set(problems)].join('; ') || 'no resolvers configured');
}

export function formatResolver(server: ResolverAddress): string {
  return net.isIPv6(server.host) ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
}

function question(name: string, type: RecordType): dnsPacket.Packet {
  return {
    type: 'query',
    id: randomInt(0, 65_536),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  };
}

/** The answer must echo our id and question (RFC 5452), or it is ignored as spoofed or stale. */
function matches(query: dnsPacket.Packet, response: dnsPacket.Packet): boolean {
  const q = query.questions?.[0];
  const r = response.questions?.[0];
  return (
    response.id === query.id &&
    response.type === 'response' &&
    r !== undefined &&
    q !== undefined &&
    r.type === q.type &&
    r.name.toLowerCase() === q.name.toLowerCase()
  );
}

function queryUdp(server: ResolverAddress, name: string, type: RecordType, timeoutMs: number): Promise<dnsPacket.Packet> {
  const query = question(name, type);
  const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
  return new Promise<dnsPacket.Packet>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, packet?: dnsPacket.Packet) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(packet!);
    };
    socket.on('error', (err) => finish(err));
    socket.on('message', (msg) => {
      let packet: dnsPacket.Packet;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return;
      }
      if (matches(query, packet)) finish(null, packet);
    });
    // connect() first, so an ICMP "port unreachable" surfaces as ECONNREFUSED
    // at once instead of waiting out the timeout.
    socket.connect(server.port, server.host, () => socket.send(dnsPacket.encode(query)));
  });
}

function queryTcp(server: ResolverAddress, name: string, type: RecordType, timeoutMs: number): Promise<dnsPacket.Packet> {
  const query = question(name, type);
  return new Promise<dnsPacket.Packet>((resolve, reject) => {
    const socket = net.connect({ host: server.host, port: server.port });
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms (TCP)`)), timeoutMs);
    const finish = (err: Error | null, packet?: dnsPacket.Packet) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(packet!);
    };
    socket.on('error', (err) => finish(err));
    socket.on('connect', () => socket.write(dnsPacket.streamEncode(query)));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      try {
        const packet = dnsPacket.streamDecode(buffered);
        if (matches(query, packet)) finish(null, packet);
        else finish(new Error('mismatched answer over TCP'));
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on('end', () => finish(new Error('connection closed before an answer (TCP)')));
  });
}
