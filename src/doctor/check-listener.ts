/**
 * Doctor: with listener.enabled, something listens. The SMTP listener runs
 * only inside the agent; a cron flush never listens, so a home set up with
 * the cron kind (or with no autostart at all) would refuse list software's
 * mail without a word. Connects to the listener's address (loopback, a
 * short timeout, sends nothing): a greeting-less connect is enough. Port 0
 * (any free port) cannot be checked this way: then the agent being up is.
 * Never throws.
 */
import net from 'node:net';
import type { RuntimeConfig } from '../config/runtime.js';
import { currentFlusher } from '../agent/agent-presence.js';
import { fail, pass, type CheckResult } from './check.js';

const CONNECT_TIMEOUT_MS = 2_000;

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const FIX =
  'run the agent, which runs the listener: bulkmailer agent, or keep it running with bulkmailer autostart install (systemd, xdg, launchd restart it; with --kind cron it starts at boot)';

export async function checkListener(home: string, config: RuntimeConfig): Promise<CheckResult[]> {
  const listener = config.stored.listener;
  if (!listener.enabled) return [];
  const title = 'SMTP listener running (listener.enabled)';
  const flusher = await currentFlusher(home).catch(() => null);
  const agent = flusher?.kind === 'agent' ? `the agent (pid ${flusher.pid})` : null;
  if (listener.port === 0) {
    return [agent ? pass('listener', title, `${agent} runs it on a free port (listener.port 0)`) : fail('listener', title, 'no agent is running, so nothing listens', FIX)];
  }
  const where = `${listener.host}:${listener.port}`;
  if (await canConnect(listener.host, listener.port)) return [pass('listener', title, `${where} accepts connections${agent ? ` (${agent})` : ''}`)];
  const why = agent ? `${agent} runs, but nothing accepts connections on ${where} (see agent.log)` : `nothing listens on ${where}: no agent is running`;
  return [fail('listener', title, why, FIX)];
}
