/**
 * `mx.resolvers`: the DNS resolvers direct delivery asks, "ip[:port],..."
 * (IPv6 in brackets when a port follows); unset, the system's, as node
 * reads them from /etc/resolv.conf. Names are refused: resolving the
 * resolver would need a resolver. A bad entry is a config error (exit 78).
 */
import dns from 'node:dns';
import net from 'node:net';
import { configError } from '../errors.js';

export interface ResolverAddress {
  host: string;
  port: number;
}

/** `mx.resolvers`: "host[:port], [v6]:port, ..."; empty: the system's resolvers. */
export function parseResolvers(text: string | null, key = 'mx.resolvers'): ResolverAddress[] {
  if (text === null || text.trim() === '') return systemResolvers();
  return text.split(',').map((part) => parseResolver(part.trim(), key));
}

function parseResolver(text: string, key: string): ResolverAddress {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [host, port] = v6 !== null ? [v6[1]!, v6[2]] : net.isIPv6(text) ? [text, undefined] : text.split(':');
  const portNumber = port === undefined || port === '' ? 53 : Number(port);
  if (host === undefined || !net.isIP(host) || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65_535) {
    throw configError(`${key}: "${text}" is not an IP address with an optional port (1.1.1.1, 127.0.0.1:5353, [::1]:53)`);
  }
  return { host, port: portNumber };
}

export function systemResolvers(): ResolverAddress[] {
  return dns.getServers().map((server) => parseResolver(server, 'the system resolvers'));
}

/**
 * The resolvers direct delivery asks: `mx.resolvers` when set, else the
 * system's. One rule for the flush, doctor and probe. Throws as
 * systemResolvers does (a system resolver it cannot parse).
 */
export function mxResolvers(configured: ResolverAddress[] | null): ResolverAddress[] {
  return configured ?? systemResolvers();
}
