/**
 * The agent's flush schedule: a node-cron expression from config
 * `schedule` (5 fields, or 6 with seconds first: "*\/10 * * * * *" is
 * allowed, and used by the tests). Checked by src/config/key-checks.ts (the
 * same check `config set schedule` runs), so a bad expression fails with the
 * key's name (exit 78) instead of node-cron's message.
 *
 * `scheduleIntervalMs` is the shortest gap between the next few runs: the
 * cap of the watcher's re-probe backoff.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { checkSchedule } from '../config/key-checks.js';

export { checkSchedule };

export function scheduleIntervalMs(expression: string): number {
  checkSchedule(expression);
  const probe = cron.createTask(expression, () => {});
  try {
    const runs = probe.getNextRuns(4).map((d) => d.getTime());
    let gap = Number.POSITIVE_INFINITY;
    for (let i = 1; i < runs.length; i++) gap = Math.min(gap, runs[i]! - runs[i - 1]!);
    return Number.isFinite(gap) && gap > 0 ? gap : 24 * 3_600_000;
  } finally {
    void probe.destroy();
  }
}

/**
 * Runs `onTick` at every match of `expression`. The task only requests a
 * flush (never awaits one), so node-cron's overlap handling never matters.
 * Missed runs (the machine slept) are not replayed: the watcher's resume
 * event flushes once instead.
 */
export function startSchedule(expression: string, onTick: () => void, log: (line: string) => void): ScheduledTask {
  checkSchedule(expression);
  return cron.schedule(expression, () => onTick(), {
    name: 'bulkmailer-flush',
    suppressMissedWarning: true,
    logger: {
      info: () => {},
      debug: () => {},
      warn: (message) => log(`schedule: ${message}`),
      error: (message) => log(`schedule: ${message instanceof Error ? message.message : message}`),
    },
  });
}
