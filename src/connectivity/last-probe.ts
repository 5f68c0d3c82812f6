/**
 * The last probe's answer, kept in spool/last-probe.json so `status` can say
 * whether the smarthost was reachable without probing itself (status must
 * stay instant and work offline). Whoever probes writes it: flush (after
 * findReachableSmarthost), the agent, `probe` and `doctor`.
 *
 * The file is advisory, not part of the queue: written through the spool's
 * record store as an advisory record (temp in spool/tmp + rename, no fsync:
 * losing it in a power cut costs nothing; a temp left by a crash is removed
 * by repair like any other) and read like every record (never through a
 * link), at the path spool/paths.ts gives it;
 * never containing a password (only Smarthost.display forms). Neither
 * function ever throws: a broken or missing file reads as "no probe yet",
 * and a failed write is silently dropped.
 */
import { lastProbePath, readJsonRecord, spoolLayout, writeJsonRecord } from '../spool/index.js';
import type { ProbeResult } from './probe-smarthost.js';

export interface LastProbe {
  /** ISO time of the probe. */
  time: string;
  /** Some smarthost answered with a 220 greeting. */
  reachable: boolean;
  /** The first reachable smarthost (display form), null when none was. */
  smarthost: string | null;
  probes: { smarthost: string; reachable: boolean; ms: number; error: string | null }[];
}

/** Records a probe round (every smarthost tried, in order). Never throws. */
export async function writeLastProbe(home: string, probes: readonly ProbeResult[], now: number = Date.now()): Promise<void> {
  const reachable = probes.find((p) => p.reachable) ?? null;
  const record: LastProbe = {
    time: new Date(now).toISOString(),
    reachable: reachable !== null,
    smarthost: reachable?.smarthost ?? null,
    probes: probes.map((p) => ({ smarthost: p.smarthost, reachable: p.reachable, ms: p.ms, error: p.error })),
  };
  const spool = spoolLayout(home);
  await writeJsonRecord(spool, lastProbePath(spool), record, 'the last probe', 'advisory').catch(() => {});
}

function validLastProbe(value: unknown): LastProbe | null {
  const parsed = value as Partial<LastProbe> | null;
  if (parsed === null || typeof parsed !== 'object') return null;
  if (typeof parsed.time !== 'string' || Number.isNaN(Date.parse(parsed.time))) return null;
  if (typeof parsed.reachable !== 'boolean') return null;
  return {
    time: parsed.time,
    reachable: parsed.reachable,
    smarthost: typeof parsed.smarthost === 'string' ? parsed.smarthost : null,
    probes: Array.isArray(parsed.probes) ? parsed.probes : [],
  };
}

/** The last recorded probe, or null when there is none (or it is unreadable). Never throws. */
export async function readLastProbe(home: string): Promise<LastProbe | null> {
  try {
    return readJsonRecord(lastProbePath(spoolLayout(home)), 'the last probe', validLastProbe);
  } catch {
    return null;
  }
}
