/**
 * How long the watcher waits before probing an unreachable smarthost again:
 * exponential, from REPROBE_START_MS, capped at the agent's schedule
 * interval (so going offline never makes the agent slower to notice than
 * its own cron schedule) and at REPROBE_MAX_MS (so a once-a-day schedule
 * does not leave a laptop deaf for a day). Pure: tests call it directly.
 *
 * A network change or a resume from sleep resets the attempt count: a new
 * network is a new chance.
 */

export const REPROBE_START_MS = 1_000;
export const REPROBE_FACTOR = 2;
export const REPROBE_MAX_MS = 15 * 60_000;

export interface ReprobePolicy {
  startMs: number;
  factor: number;
  capMs: number;
}

/** The policy for a given schedule interval (ms between two scheduled flushes). */
export function reprobePolicy(scheduleIntervalMs: number, startMs = REPROBE_START_MS, factor = REPROBE_FACTOR): ReprobePolicy {
  const capMs = Math.max(startMs, Math.min(scheduleIntervalMs, REPROBE_MAX_MS));
  return { startMs, factor, capMs };
}

/** Delay before re-probe number `attempt` (0-based). */
export function reprobeDelay(attempt: number, policy: ReprobePolicy): number {
  // Stop multiplying once past the cap: factor ** attempt overflows to Infinity after ~1000 tries.
  let delay = policy.startMs;
  for (let i = 0; i < attempt && delay < policy.capMs; i++) delay *= policy.factor;
  return Math.min(Math.round(delay), policy.capMs);
}
