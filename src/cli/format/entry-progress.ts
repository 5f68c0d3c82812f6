/**
 * One entry's progress in words, as `status` shows it:
 *   "120/300 sent, 5 deferred until 14:35, 1 failed"
 * plus "held" when the entry is held. Pure: reads an EntryState, never the disk.
 */
import type { EntryState } from '../../model/entry-state.js';
import { formatClock } from '../../text.js';
import type { Palette } from './color.js';

export interface EntryCounts {
  total: number;
  pending: number;
  deferred: number;
  sent: number;
  failed: number;
  /** Earliest nextAttemptAt of the deferred recipients, null when one is due now (or none are deferred). */
  nextAttemptAt: string | null;
  /** Some deferred recipient is due now (retry, or an interrupted transaction). */
  deferredDueNow: boolean;
  /** Recipients not yet final that may already have a copy (docs/queue-states.md). */
  possibleDuplicates: number;
}

export function countEntry(state: EntryState): EntryCounts {
  const counts: EntryCounts = {
    total: state.recipients.length,
    pending: 0,
    deferred: 0,
    sent: 0,
    failed: 0,
    nextAttemptAt: null,
    deferredDueNow: false,
    possibleDuplicates: 0,
  };
  let earliest = Number.POSITIVE_INFINITY;
  for (const r of state.recipients) {
    counts[r.status]++;
    if (r.possibleDuplicate === true && (r.status === 'pending' || r.status === 'deferred')) counts.possibleDuplicates++;
    if (r.status !== 'deferred') continue;
    if (r.nextAttemptAt === null) counts.deferredDueNow = true;
    else earliest = Math.min(earliest, Date.parse(r.nextAttemptAt));
  }
  if (Number.isFinite(earliest)) counts.nextAttemptAt = new Date(earliest).toISOString();
  return counts;
}

export function describeProgress(state: EntryState, counts: EntryCounts, now: number, c: Palette): string {
  const parts = [`${counts.sent}/${counts.total} sent`];
  if (counts.deferred > 0) {
    const when = counts.deferredDueNow || counts.nextAttemptAt === null ? 'due now' : `until ${formatClock(counts.nextAttemptAt, now)}`;
    parts.push(c.yellow(`${counts.deferred} deferred ${when}`));
  }
  if (counts.failed > 0) parts.push(c.red(`${counts.failed} failed`));
  if (counts.possibleDuplicates > 0) parts.push(c.yellow(`${counts.possibleDuplicates} possible duplicate${counts.possibleDuplicates === 1 ? '' : 's'}`));
  if (state.held) parts.push(c.yellow('held'));
  return parts.join(', ');
}
