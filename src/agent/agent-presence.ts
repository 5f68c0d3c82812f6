/**
 * Who holds the spool right now: nobody, the agent, or a one-shot flush.
 * The instance lock says who (pid); the trigger socket says whether it is
 * the agent (only the agent listens there). Connecting without writing a
 * byte does not nudge it. Never throws.
 */
import { instanceLockPath, lockHolder, spoolLayout, touchTrigger, type Spool } from '../spool/index.js';

export type FlusherKind = 'agent' | 'flush';

export interface FlusherPresence {
  pid: number;
  kind: FlusherKind;
  since: string;
}

/** Connecting without writing a byte does not nudge the agent. */
export function isAgentListening(spool: Spool, timeoutMs = 500): Promise<boolean> {
  return touchTrigger(spool, null, timeoutMs);
}

/** Reads only: does not create the spool. */
export async function currentFlusher(home: string): Promise<FlusherPresence | null> {
  const spool = spoolLayout(home);
  try {
    const owner = lockHolder(instanceLockPath(spool));
    if (owner === null) return null;
    const kind: FlusherKind = (await isAgentListening(spool)) ? 'agent' : 'flush';
    return { pid: owner.pid, kind, since: owner.since };
  } catch {
    return null;
  }
}
