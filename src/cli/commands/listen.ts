/**
 * `bulkmailer listen [--host ADDR] [--port N | --socket PATH]`: the SMTP listener in the
 * foreground (for Mailman and other list software; the agent runs the same
 * listener itself when listener.enabled is set). Prints
 * "listening on HOST:PORT" (or the socket's path; the socket is 0600) once bound (port 0: the port picked), one line
 * per accepted or refused message on stderr, and on SIGTERM/SIGINT stops
 * accepting, finishes the messages in flight and exits 0.
 *
 * Exit codes: 64 bad --port; 73 cannot bind; 78 a bind the policy refuses
 * (non-loopback without AUTH over TLS) or a bad config.
 */
import path from 'node:path';
import { usageError } from '../../errors.js';
import { startListener } from '../../frontends/listener/start-listener.js';
import type { CommandContext } from '../context.js';
import { plural } from '../../text.js';

export interface ListenOptions {
  host?: string;
  port?: string;
  socket?: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw usageError(`--port must be a number from 0 to 65535, not ${JSON.stringify(value)}`);
  return port;
}

function hostForDisplay(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export default async function listen(ctx: CommandContext, options: ListenOptions): Promise<number> {
  if (options.socket !== undefined && (options.host !== undefined || options.port !== undefined)) {
    throw usageError('--socket and --host/--port exclude each other');
  }
  const listener = await startListener({
    home: ctx.home,
    ...(options.socket !== undefined ? { socket: path.resolve(options.socket) } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: parsePort(options.port) } : {}),
    onAccepted: (m) => ctx.stderr.write(`bulkmailer: queued ${m.id} from <${m.from}> for ${plural(m.recipients, 'recipient')}, ${m.size} bytes\n`),
    onRejected: (code, reason) => ctx.stderr.write(`bulkmailer: refused a message (${code}): ${reason}\n`),
  });
  // Taken before saying "listening": a supervisor may stop us as soon as it reads that
  // line (stdout to a pipe is written at once), and must get the graceful close, not Node's default kill.
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  ctx.stdout.write(
    listener.socket !== null ? `listening on ${listener.socket}\n` : `listening on ${hostForDisplay(listener.host)}:${listener.port}\n`,
  );
  const signal = await stopped;
  ctx.stderr.write(`bulkmailer: ${signal}: finishing messages in flight\n`);
  await listener.close();
  return 0;
}
