/**
 * An authoritative DNS server for tests, on 127.0.0.1 and a port of its own
 * choosing, over UDP and TCP (the same port for both, as real resolvers
 * expect). It serves a zone given as a plain object: MX, A, AAAA records
 * with TTLs, a null MX, and names that answer SERVFAIL; any other name is
 * NXDOMAIN, and a known name without the asked type answers NODATA with an
 * SOA whose minimum is the negative TTL (RFC 2308).
 *
 * Packets are encoded with dns-packet (the same library the resolver uses:
 * a bug in its encoding would hide in both, but it is the most used DNS
 * codec on npm, and the responder's behaviour, not the codec, is what the
 * tests are about). It counts queries per name and type (for cache tests)
 * and can go silent (the resolvers do not answer: offline) or refuse UDP
 * answers larger than `udpLimit` with the TC bit (to exercise the TCP path).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';

export interface ZoneName {
  ttl?: number;
  mx?: { preference: number; exchange: string }[];
  a?: string[];
  aaaa?: string[];
  /** TXT records, one string each (MTA-STS: `v=STSv1; id=...` at _mta-sts.DOMAIN). */
  txt?: string[];
  /** Answer SERVFAIL for every query of this name. */
  servfail?: boolean;
}

export type Zone = Record<string, ZoneName>;

export interface DnsServer {
  port: number;
  /** "host:port", as mx.resolvers takes it. */
  address: string;
  zone: Zone;
  /** Queries received, as "name TYPE", in order. */
  queries: string[];
  count(name: string, type: string): number;
  /** Stop answering (packets are read and dropped) or answer again. */
  setSilent(silent: boolean): void;
  /** Answers over UDP larger than this many bytes are truncated (TC bit). */
  udpLimit: number;
  /** Queries that came over TCP. */
  tcpQueries: number;
  close(): Promise<void>;
}

const NEGATIVE_TTL = 60;

export async function startDnsServer(zone: Zone, host = '127.0.0.1'): Promise<DnsServer> {
  const queries: string[] = [];
  let silent = false;
  const state = { udpLimit: 512, tcpQueries: 0 };

  const answer = (query: dnsPacket.Packet): dnsPacket.Packet => {
    const question = query.questions?.[0];
    const base = {
      type: 'response' as const,
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED,
      questions: query.questions,
    };
    if (question === undefined) return { ...base, flags: base.flags | 2 /* FORMERR */ };
    const name = question.name.toLowerCase().replace(/\.$/, '');
    queries.push(`${name} ${question.type}`);
    const entry = zone[name];
    if (entry?.servfail) return { ...base, flags: base.flags | 2 };
    const soa = {
      type: 'SOA' as const,
      name: name.split('.').slice(-2).join('.'),
      ttl: NEGATIVE_TTL,
      data: {
        mname: 'ns.test',
        rname: 'hostmaster.test',
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: NEGATIVE_TTL,
      },
    };
    if (entry === undefined) return { ...base, flags: base.flags | 3 /* NXDOMAIN */, authorities: [soa] };
    const ttl = entry.ttl ?? 300;
    const answers: dnsPacket.Answer[] = [];
    if (question.type === 'MX') {
      for (const mx of entry.mx ?? []) answers.push({ type: 'MX', name, ttl, data: { preference: mx.preference, exchange: mx.exchange } });
    } else if (question.type === 'A') {
      for (const a of entry.a ?? []) answers.push({ type: 'A', name, ttl, data: a });
    } else if (question.type === 'AAAA') {
      for (const a of entry.aaaa ?? []) answers.push({ type: 'AAAA', name, ttl, data: a });
    } else if (question.type === 'TXT') {
      for (const text of entry.txt ?? []) answers.push({ type: 'TXT', name, ttl, data: text });
    }
    return answers.length > 0 ? { ...base, answers } : { ...base, authorities: [soa] };
  };

  // UDP and TCP on one port: the OS picks a free UDP port, which may be taken for TCP; then pick again.
  for (let tries = 0; ; tries++) {
    try {
      return await listen();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries > 20) throw err;
    }
  }

  async function listen(): Promise<DnsServer> {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => {
      if (silent) return;
      let query: dnsPacket.Packet;
      try {
        query = dnsPacket.decode(msg);
      } catch {
        return;
      }
      let reply = dnsPacket.encode(answer(query));
      if (reply.length > state.udpLimit) {
        const truncated = dnsPacket.decode(reply);
        reply = dnsPacket.encode({ ...truncated, flags: (truncated.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
      }
      udp.send(reply, rinfo.port, rinfo.address);
    });
    udp.bind(0, host);
    await once(udp, 'listening');
    const port = udp.address().port;

    const sockets = new Set<net.Socket>();
    const tcp = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const length = buffered.readUInt16BE(0);
          const msg = buffered.subarray(2, 2 + length);
          buffered = buffered.subarray(2 + length);
          if (silent) continue;
          state.tcpQueries++;
          try {
            socket.write(dnsPacket.streamEncode(answer(dnsPacket.decode(msg))));
          } catch {
            socket.destroy();
          }
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, host, () => resolve());
      });
    } catch (err) {
      udp.close();
      throw err;
    }

    let closed = false;
    return {
      port,
      address: `${host}:${port}`,
      zone,
      queries,
      count: (name, type) => queries.filter((q) => q === `${name} ${type}`).length,
      setSilent(value) {
        silent = value;
      },
      get tcpQueries() {
        return state.tcpQueries;
      },
      get udpLimit() {
        return state.udpLimit;
      },
      set udpLimit(value) {
        state.udpLimit = value;
      },
      async close() {
        if (closed) return;
        closed = true;
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}
