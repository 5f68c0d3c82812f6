/**
 * The final word on "can we deliver now": open a TCP (or TLS, for smtps)
 * connection to the smarthost and read its greeting, within a short
 * timeout. Never throws: it answers a value (is-online's shape).
 *
 * A 220 greeting means reachable. A 4xx/5xx greeting (a server refusing
 * sessions) is "reachable: false" too: no transaction could succeed.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Smarthost } from '../config/smarthost.js';

export interface ProbeResult {
  smarthost: string;
  reachable: boolean;
  /** Time to the greeting (or to the failure), in ms. */
  ms: number;
  greeting: string | null;
  error: string | null;
}

export interface ProbeOptions {
  timeoutMs: number;
  /** For smtps: verify the certificate (a probe only reads the greeting, but says so). */
  tlsVerify?: boolean;
  tlsCa?: string | null;
}

export function probeSmarthost(smarthost: Smarthost, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let buffer = '';
    let settled = false;
    const finish = (reachable: boolean, greeting: string | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ smarthost: smarthost.display, reachable, ms: Math.round(performance.now() - started), greeting, error });
    };
    const socket = smarthost.secure
      ? tls.connect({
          host: smarthost.host,
          port: smarthost.port,
          servername: net.isIP(smarthost.host) ? undefined : smarthost.host,
          rejectUnauthorized: options.tlsVerify ?? true,
          ca: options.tlsCa ?? undefined,
        })
      : net.connect({ host: smarthost.host, port: smarthost.port });
    const timer = setTimeout(() => finish(false, null, `no greeting within ${options.timeoutMs}ms`), options.timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      // A greeting may span several lines ("220-..."); the last has a space after the code.
      const lines = buffer.split(/\r?\n/);
      for (const line of lines.slice(0, -1)) {
        if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
          const ok = line.startsWith('220');
          finish(ok, line, ok ? null : `smarthost refuses sessions: ${line}`);
          return;
        }
      }
      if (buffer.length > 4096) finish(false, null, 'garbled greeting');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, null, err.code ?? err.message));
    socket.on('close', () => finish(false, null, 'connection closed before the greeting'));
  });
}

/** Probes in order and answers the first reachable smarthost (or every failure). */
export async function findReachableSmarthost(
  smarthosts: readonly Smarthost[],
  options: ProbeOptions,
): Promise<{ smarthost: Smarthost | null; probes: ProbeResult[] }> {
  const probes: ProbeResult[] = [];
  for (const smarthost of smarthosts) {
    const probe = await probeSmarthost(smarthost, options);
    probes.push(probe);
    if (probe.reachable) return { smarthost, probes };
  }
  return { smarthost: null, probes };
}
