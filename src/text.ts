/**
 * Wording that every layer shares, so the CLI, `sendmail -q` and the agent
 * say things the same way: counted nouns ("1 recipient", "2 recipients",
 * never "1 recipients") and local clock times ("14:35", "Mar 3 14:35").
 * Pure; imports nothing of ours, so any layer may use it (like errors.ts).
 * The clock and the time zone are the caller's (tests pass `now`, set TZ).
 */

/** `n` and the noun, singular for exactly 1; `many` for irregular plurals (entry/entries). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** English month and day abbreviations: the one table, for clock times, mailq and RFC 5322 dates. */
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
export const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

export function pad2(n: number): string {
  return n.toString().padStart(2, '0');
}

/** Local clock time: "14:35" today, "Mar 3 14:35" another day, with the year if not this year. */
export function formatClock(iso: string, now: number): string {
  const d = new Date(iso);
  const today = new Date(now);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  if (d.toDateString() === today.toDateString()) return hm;
  const day = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  return d.getFullYear() === today.getFullYear() ? `${day} ${hm}` : `${day} ${d.getFullYear()} ${hm}`;
}
