/**
 * Numbers for humans: sizes (1.2 MB), ages (3h, 2d), timestamps. Clock
 * times of day are in src/text.ts (the flush summary uses them too). Pure
 * functions; the clock and the time zone are the caller's.
 */
import { pad2 } from '../../text.js';

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'] as const;

/** 1 KB = 1000 B, as `ls -h --si` and most mail clients count. */
export function formatSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Age of something created at `iso`: "now", "45s", "12m", "3h", "2d". */
export function formatAge(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < 1000) return 'now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** "in 5m" / "5m ago" relative to now. */
export function formatRelative(iso: string, now: number): string {
  const diff = Date.parse(iso) - now;
  const age = formatAge(new Date(now - Math.abs(diff)).toISOString(), now);
  if (age === 'now') return 'now';
  return diff > 0 ? `in ${age}` : `${age} ago`;
}

/** Local date and time to the second, for log lines: "2025-03-03 14:35:02". */
export function formatTimestamp(iso: string): string {
  const d = new Date(iso);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

/** Fits text into `width` columns: truncated with an ellipsis, or padded. */
export function fit(text: string, width: number): string {
  const chars = [...text.replace(/[\r\n\t]+/g, ' ')];
  if (chars.length > width) return chars.slice(0, Math.max(0, width - 1)).join('') + '…';
  return chars.join('') + ' '.repeat(width - chars.length);
}

/** Right-aligned in `width` columns (never truncated). */
export function fitRight(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}
