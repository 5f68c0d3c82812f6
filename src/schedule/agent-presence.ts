/**
 * Who holds the spool right now: nobody, the agent, or a one-shot flush.
 * The instance lock says who (pid); the trigger socket says whether it is
 * the agent (only the agent listens there). Connecting without writing a
 * byte does not nudge it. Never throws.
 */
import net from 'node:net';
import { instanceLockPath, lockHolder, spoolLayout, type Spool } from '../spool/index.js';
import { triggerSocketPath } from '../spool/trigger.js';

export type FlusherKind = 'agent' | 'flush';

export interface FlusherPresence {
  pid: number;
  kind: FlusherKind;
  since: string;
}

export function isAgentListening(spool: Spool, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(triggerSocketPath(spool));
    const done = (yes: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(yes);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/** Reads only: does not create the spool. */
export async function currentFlusher(home: string): Promise<FlusherPresence | null> {
  const spool = spoolLayout(home);
  try {
    const owner = await lockHolder(instanceLockPath(spool));
    if (owner === null) return null;
    const kind: FlusherKind = (await isAgentListening(spool)) ? 'agent' : 'flush';
    return { pid: owner.pid, kind, since: owner.since };
  } catch {
    return null;
  }
}
