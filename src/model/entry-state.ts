/**
 * The entry: what one state file in spool/state/ holds, and how it is
 * checked when read back. Pure types and validation, no I/O.
 *
 * The recipient status table (docs/queue-states.md is the long form):
 *
 *   pending   never attempted, or due again now; a flush will try it
 *   deferred  the smarthost answered 4xx, or the connection broke during
 *             its transaction; due again at nextAttemptAt (null: due now)
 *   sent      the smarthost accepted it (2xx after DATA): final
 *   failed    5xx, or expired after the queue lifetime: final, and a DSN
 *             goes to the envelope sender (dsnQueued records that it went)
 *
 * Status only moves forward to sent or failed. An entry leaves the spool
 * when every recipient is final and every failure has been reported.
 */
import { dataError } from '../errors.js';
import { isQueueId } from './queue-id.js';

export const ENTRY_STATE_VERSION = 1;

export type RecipientStatus = 'pending' | 'deferred' | 'sent' | 'failed';
export const RECIPIENT_STATUSES: readonly RecipientStatus[] = ['pending', 'deferred', 'sent', 'failed'];

export interface RecipientState {
  address: string;
  status: RecipientStatus;
  /** Transactions that reached the smarthost for this recipient. */
  attempts: number;
  /** ISO time of the last attempt, null before the first. */
  lastAttemptAt: string | null;
  /** ISO time when a deferred recipient is due again; null: due now (or final). */
  nextAttemptAt: string | null;
  /** The smarthost's last reply for this recipient, or what broke. */
  lastReply: string | null;
  /**
   * Time counted toward the queue lifetime, in ms. It grows only by the
   * backoff interval the schedule intended between two real attempts, so
   * days offline or asleep never age an entry (promise 4).
   */
  retryAgeMs: number;
  /** For failed recipients: the DSN to the sender has been queued. */
  dsnQueued: boolean;
  /**
   * A transaction to this recipient may have been accepted without its
   * outcome being recorded (a connection lost after the dot, or a flusher
   * killed during the transaction): a copy may already be delivered. Absent
   * means false; it stays set once set, so the log line says it too.
   */
  possibleDuplicate?: boolean;
}

export type EntryKind = 'message' | 'dsn';

export interface EntryState {
  version: typeof ENTRY_STATE_VERSION;
  id: string;
  kind: EntryKind;
  /** Envelope sender; the empty string is the null sender `<>` (bounces). */
  from: string;
  createdAt: string;
  /** Size of the message file in bytes. */
  size: number;
  subject: string | null;
  messageId: string | null;
  /** A held entry is never delivered until released. */
  held: boolean;
  recipients: RecipientState[];
  /**
   * The delay warning (an RFC 3464 DSN with Action: delayed) has been queued
   * to the sender. Absent means false (state files written before it existed).
   */
  delayWarned?: boolean;
}

export function newRecipientState(address: string): RecipientState {
  return {
    address,
    status: 'pending',
    attempts: 0,
    lastAttemptAt: null,
    nextAttemptAt: null,
    lastReply: null,
    retryAgeMs: 0,
    dsnQueued: false,
  };
}

/** What a new entry is made of: its envelope and what the enqueue learnt of its message. */
export interface NewEntry {
  id: string;
  kind?: EntryKind;
  /** Envelope sender, already checked; '' is the null sender. */
  from: string;
  /** Recipients, already checked and normalized. */
  recipients: readonly string[];
  /** Queued at (ms since the epoch). */
  now: number;
  size: number;
  subject?: string | null;
  messageId?: string | null;
  held?: boolean;
}

/** The state a new entry is committed with: every recipient pending. */
export function newEntryState(entry: NewEntry): EntryState {
  return {
    version: ENTRY_STATE_VERSION,
    id: entry.id,
    kind: entry.kind ?? 'message',
    from: entry.from,
    createdAt: new Date(entry.now).toISOString(),
    size: entry.size,
    subject: entry.subject ?? null,
    messageId: entry.messageId ?? null,
    held: entry.held ?? false,
    recipients: entry.recipients.map(newRecipientState),
  };
}

export function isFinalStatus(status: RecipientStatus): boolean {
  return status === 'sent' || status === 'failed';
}

/** True when the entry may leave the spool (promise 2). */
export function isEntryComplete(state: EntryState): boolean {
  return state.recipients.every(
    (r) => r.status === 'sent' || (r.status === 'failed' && (r.dsnQueued || state.from === '')),
  );
}

/** Failed recipients whose DSN has not been queued yet. */
export function recipientsAwaitingDsn(state: EntryState): RecipientState[] {
  if (state.from === '') return [];
  return state.recipients.filter((r) => r.status === 'failed' && !r.dsnQueued);
}

/**
 * The recipients a delay warning lists, or [] when none is owed: the entry
 * has a sender (never for bounces), has not been warned, and some recipient
 * still waiting has been retried for `delayWarningMs` (retry age, counted
 * like the lifetime, so time offline does not count). 0 turns warnings off.
 */
export function recipientsForDelayWarning(state: EntryState, delayWarningMs: number): RecipientState[] {
  if (delayWarningMs <= 0 || state.from === '' || state.delayWarned === true) return [];
  const waiting = state.recipients.filter((r) => r.status === 'pending' || r.status === 'deferred');
  return waiting.some((r) => r.retryAgeMs >= delayWarningMs) ? waiting : [];
}

export function isRecipientDue(recipient: RecipientState, now: number): boolean {
  switch (recipient.status) {
    case 'pending':
      return true;
    case 'deferred':
      return recipient.nextAttemptAt === null || Date.parse(recipient.nextAttemptAt) <= now;
    case 'sent':
    case 'failed':
      return false;
  }
}

export function dueRecipients(state: EntryState, now: number): RecipientState[] {
  if (state.held) return [];
  return state.recipients.filter((r) => isRecipientDue(r, now));
}

/** Counts per status, for summaries. */
export function countByStatus(state: EntryState): Record<RecipientStatus, number> {
  const counts: Record<RecipientStatus, number> = { pending: 0, deferred: 0, sent: 0, failed: 0 };
  for (const r of state.recipients) counts[r.status]++;
  return counts;
}

/* ---------- validation on read: a state file is trusted only after this ---------- */

function fail(id: string, what: string): never {
  throw dataError(`state file of ${id || 'an entry'} is invalid: ${what}`, 'E_CORRUPT_STATE');
}

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value));
}

function isNullableIsoTime(value: unknown): value is string | null {
  return value === null || isIsoTime(value);
}

function isNullableString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/**
 * Parses and validates the JSON of a state file. Throws E_CORRUPT_STATE
 * (exit 65) on anything unexpected; the spool quarantines such entries.
 */
export function parseEntryState(text: string, expectedId?: string): EntryState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(expectedId ?? '', `not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(expectedId ?? '', 'not an object');
  const s = raw as Record<string, unknown>;
  const id = typeof s.id === 'string' ? s.id : '';
  if (s.version !== ENTRY_STATE_VERSION) fail(id, `unknown version ${JSON.stringify(s.version)}`);
  if (!isQueueId(id)) fail(id, 'bad id');
  if (expectedId !== undefined && id !== expectedId) fail(expectedId, `id ${id} does not match its file name`);
  if (s.kind !== 'message' && s.kind !== 'dsn') fail(id, 'bad kind');
  if (typeof s.from !== 'string') fail(id, 'bad from');
  if (!isIsoTime(s.createdAt)) fail(id, 'bad createdAt');
  if (!isCount(s.size)) fail(id, 'bad size');
  if (!isNullableString(s.subject)) fail(id, 'bad subject');
  if (!isNullableString(s.messageId)) fail(id, 'bad messageId');
  if (typeof s.held !== 'boolean') fail(id, 'bad held');
  if (s.delayWarned !== undefined && typeof s.delayWarned !== 'boolean') fail(id, 'bad delayWarned');
  if (!Array.isArray(s.recipients) || s.recipients.length === 0) fail(id, 'no recipients');
  for (const [i, r] of (s.recipients as unknown[]).entries()) {
    if (typeof r !== 'object' || r === null) fail(id, `recipient ${i} is not an object`);
    const rr = r as Record<string, unknown>;
    if (typeof rr.address !== 'string' || rr.address === '') fail(id, `recipient ${i}: bad address`);
    if (!RECIPIENT_STATUSES.includes(rr.status as RecipientStatus)) fail(id, `recipient ${i}: bad status`);
    if (!isCount(rr.attempts)) fail(id, `recipient ${i}: bad attempts`);
    if (!isNullableIsoTime(rr.lastAttemptAt)) fail(id, `recipient ${i}: bad lastAttemptAt`);
    if (!isNullableIsoTime(rr.nextAttemptAt)) fail(id, `recipient ${i}: bad nextAttemptAt`);
    if (!isNullableString(rr.lastReply)) fail(id, `recipient ${i}: bad lastReply`);
    if (!isCount(rr.retryAgeMs)) fail(id, `recipient ${i}: bad retryAgeMs`);
    if (typeof rr.dsnQueued !== 'boolean') fail(id, `recipient ${i}: bad dsnQueued`);
    if (rr.possibleDuplicate !== undefined && typeof rr.possibleDuplicate !== 'boolean') fail(id, `recipient ${i}: bad possibleDuplicate`);
  }
  return s as unknown as EntryState;
}

export function serializeEntryState(state: EntryState): string {
  return JSON.stringify(state) + '\n';
}
