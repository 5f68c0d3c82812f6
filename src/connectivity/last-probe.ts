/**
 * The last probe's answer, kept in spool/last-probe.json so `status` can say
 * whether the smarthost was reachable without probing itself (status must
 * stay instant and work offline). Whoever probes writes it: flush (after
 * findReachableSmarthost), the agent, `probe` and `doctor`.
 *
 * The file is advisory, not part of the queue: written atomically
 * (temp in spool/tmp + rename, no fsync: losing it in a power cut costs
 * nothing; a temp left by a crash is removed by repair like any other),
 * at the path spool/paths.ts gives it;
 * never containing a password (only Smarthost.display forms). Neither
 * function ever throws: a broken or missing file reads as "no probe yet",
 * and a failed write is silently dropped.
 */
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { lastProbePath, spoolLayout, tmpPath } from '../spool/index.js';
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
  const file = lastProbePath(spool);
  const temp = tmpPath(spool, 'last-probe', randomBytes(3).toString('hex'));
  try {
    await fs.writeFile(temp, JSON.stringify(record) + '\n', { mode: 0o600 });
    await fs.rename(temp, file);
  } catch {
    await fs.rm(temp, { force: true }).catch(() => {});
  }
}

/** The last recorded probe, or null when there is none (or it is unreadable). Never throws. */
export async function readLastProbe(home: string): Promise<LastProbe | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(lastProbePath(spoolLayout(home)), 'utf8')) as Partial<LastProbe>;
    if (typeof parsed.time !== 'string' || Number.isNaN(Date.parse(parsed.time))) return null;
    if (typeof parsed.reachable !== 'boolean') return null;
    return {
      time: parsed.time,
      reachable: parsed.reachable,
      smarthost: typeof parsed.smarthost === 'string' ? parsed.smarthost : null,
      probes: Array.isArray(parsed.probes) ? parsed.probes : [],
    };
  } catch {
    return null;
  }
}
