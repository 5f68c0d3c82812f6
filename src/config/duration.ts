/**
 * Durations in config are written the way people say them: "90s", "5m",
 * "1h", "5d", "250ms". One parser, used by the config schema's checks and
 * by every consumer.
 */
import { configError } from '../errors.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

export function parseDuration(text: string, key = 'duration'): number {
  const match = DURATION_RE.exec(text.trim());
  if (!match) throw configError(`${key}: "${text}" is not a duration (examples: 250ms, 30s, 5m, 1h, 5d)`);
  const unit = match[2] as keyof typeof UNIT_MS;
  return Math.round(parseFloat(text) * UNIT_MS[unit]);
}

/** Short human form: 4m 30s, 2h, 5d 3h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts: string[] = [];
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  if (s && !d && !h) parts.push(`${s}s`);
  return parts.slice(0, 2).join(' ') || '0s';
}
