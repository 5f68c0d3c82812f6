/**
 * Smarthost URLs: `smtp://[user[:pass]@]host[:port]` (plain, upgraded with
 * STARTTLS whenever the server offers it) and `smtps://...` (TLS from the
 * first byte). Default ports: 587 (submission) and 465.
 *
 * `display` is the URL with any password removed: the only form that may
 * appear in logs, status or errors.
 */
import net from 'node:net';
import { configError } from '../errors.js';

export interface Smarthost {
  /** Implicit TLS (smtps://). */
  secure: boolean;
  host: string;
  port: number;
  user: string | null;
  pass: string | null;
  /** 127.0.0.0/8, ::1 or localhost: the one place credentials may go in clear. */
  loopback: boolean;
  /** The URL without its password, for humans. */
  display: string;
}

/**
 * 127.0.0.0/8, ::1 (also as an IPv4-mapped address), localhost and names
 * under .localhost: hosts only this machine can be. The one definition, for
 * smarthosts (where credentials may go in clear) and the listener (which may
 * bind without AUTH).
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) {
    if (bare === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
    return mapped !== null && isLoopbackHost(mapped[1]!);
  }
  return false;
}

export function parseSmarthostUrl(text: string, key = 'smarthost'): Smarthost {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError(`${key}: "${redactUrl(text)}" is not a URL; expected smtp://host[:port] or smtps://host[:port]`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'smtp' && scheme !== 'smtps') {
    throw configError(`${key}: unsupported scheme "${scheme}"; use smtp:// (STARTTLS) or smtps:// (implicit TLS)`);
  }
  if (url.hostname === '') throw configError(`${key}: the URL has no host`);
  if (url.pathname !== '' && url.pathname !== '/') throw configError(`${key}: a smarthost URL has no path`);
  const secure = scheme === 'smtps';
  const port = url.port === '' ? (secure ? 465 : 587) : Number(url.port);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const user = url.username === '' ? null : decodeURIComponent(url.username);
  const pass = url.password === '' ? null : decodeURIComponent(url.password);
  const hostPart = net.isIPv6(host) ? `[${host}]` : host;
  const display = `${scheme}://${user === null ? '' : `${encodeURIComponent(user)}@`}${hostPart}:${port}`;
  return { secure, host, port, user, pass, loopback: isLoopbackHost(host), display };
}

/** Removes a password from anything that looks like a URL with credentials. */
export function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/[^:/@\s]*):[^@\s]*@/g, '$1:***@');
}
