/**
 * The trigger: how an enqueuer wakes a running flusher (qmail's lock/trigger
 * pipe, as a Unix socket). The agent listens on spool/lock/trigger.sock;
 * `nudgeFlusher` connects, writes one byte and leaves. With no agent
 * running it does nothing: the entry waits for the next cron flush.
 * Nudging never throws and never waits more than NUDGE_TIMEOUT_MS.
 *
 * node:net is loaded only when there is a socket to connect to or to
 * listen on: this module is in the sendmail command's start-up snapshot,
 * where net's modules made the heap ~130 KB bigger to deserialize on every
 * message, though most messages find no agent to nudge.
 */
import type net from 'node:net';
import fsSync from 'node:fs';
import { loadBuiltinModule } from '../builtin-module.js';
import { triggerSocketPath, type Spool } from './paths.js';
import { SharedRuns } from './shared-runs.js';

const NUDGE_TIMEOUT_MS = 500;

/** node:net, when needed (src/builtin-module.ts: also inside the start-up snapshot, on every Node). */
const loadNet = () => loadBuiltinModule<typeof net>('node:net', () => import('node:net'));

/**
 * Connects to the trigger socket; with `payload`, writes it (a nudge). True
 * when a flusher was listening. Never throws, never waits past the timeout.
 */
export function touchTrigger(spool: Spool, payload: string | null, timeoutMs = NUDGE_TIMEOUT_MS): Promise<boolean> {
  return touchSocket(triggerSocketPath(spool), payload, timeoutMs);
}

function touchSocket(file: string, payload: string | null, timeoutMs: number): Promise<boolean> {
  // No socket file, no agent: skip creating a socket only to see it fail.
  if (!fsSync.existsSync(file)) return Promise.resolve(false);
  return loadNet().then((net) => new Promise<boolean>((resolve) => {
    const socket = net.connect(file);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => (payload === null ? done(true) : socket.end(payload, () => done(true))));
    socket.on('error', () => done(false));
  }), () => false);
}

/**
 * Nudges that overlap share one (shared-runs.ts): a listener taking messages
 * from several clients at once asked for a connection to the agent per
 * message. A nudge asked for while one runs is the next one, which starts
 * when the running one ends (so it still follows the caller's enqueue), and
 * every caller that asks meanwhile shares it. Per trigger socket, for this
 * process.
 */
const nudges = new SharedRuns<boolean>((file) => touchSocket(file, '!', NUDGE_TIMEOUT_MS));

export function nudgeFlusher(spool: Spool): Promise<boolean> {
  return nudges.run(triggerSocketPath(spool));
}

/**
 * For the flusher that owns the instance lock: listen for nudges. A stale
 * socket file left by a dead agent is replaced (the caller holds the
 * instance lock, so no live agent owns it).
 */
export async function listenForNudges(spool: Spool, onNudge: () => void): Promise<net.Server> {
  const file = triggerSocketPath(spool);
  fsSync.rmSync(file, { force: true }); // synchronous: this module is in the sendmail command's snapshot, fs/promises is not
  const net = await loadNet();
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => onNudge());
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    fsSync.chmodSync(file, 0o600);
  } catch {
    /* the socket's directory is private anyway */
  }
  return server;
}
