/**
 * What a flush tells the world while it runs: typed events for the progress
 * bar, the agent's log and the tests (which wait on events, not sleeps),
 * and the result it ends with.
 */
import { EventEmitter } from 'node:events';
import type { ProbeResult } from '../connectivity/probe-smarthost.js';
import type { RecipientOutcome } from '../model/transitions.js';
import type { AccountHold } from '../model/account-hold.js';
import type { ExitCode } from '../errors.js';

export type FlushOutcome =
  /** Nothing due is left undelivered. exit 0 */
  | 'done'
  /** Some due recipient is still pending, or was deferred in this run. exit 75 */
  | 'pending'
  /** No smarthost reachable: nothing attempted, nothing counted. exit 75 */
  | 'offline'
  /** Another flusher holds the spool. exit 0 (promise 5) */
  | 'busy'
  /** Stopped by its AbortSignal (SIGTERM) before finishing. exit 75 */
  | 'stopped'
  /**
   * The account is paused by its provider (quota, rate: exit 75) or held
   * until the user acts (AUTH or sender refused: 77, TLS: 76, a name that
   * does not resolve: 68). Every recipient waits, nothing counted.
   */
  | 'held';

export interface FlushResult {
  outcome: FlushOutcome;
  exitCode: ExitCode;
  /** The other flusher, when busy. */
  busyPid: number | null;
  /** The smarthost used (display form, no password), null when offline or nothing was due. */
  smarthost: string | null;
  probes: ProbeResult[];
  /** The user's entries with at least one transaction in this run (bounce reports not included). */
  messages: number;
  sent: number;
  deferred: number;
  failed: number;
  /** Recipients due at the start of the run. */
  due: number;
  /** Due recipients still not final at the end of the run. */
  remaining: number;
  /** Bounce reports (DSN entries) queued in this run. */
  bounces: number;
  /** Recipients of bounce reports delivered in this run (not counted in `sent`). */
  bouncesSent: number;
  /** Recipients of bounce reports attempted but not delivered (not counted in `deferred`/`failed`). */
  bouncesUnsent: number;
  /** When the first recipient deferred to later is due again (null: none is). */
  nextAttemptAt: string | null;
  /** Entries moved to corrupt/ in this run (their recipients no longer count as due). */
  quarantined: number;
  /**
   * Entries skipped because a file of theirs cannot be read (permission, a
   * directory or a link in its place, EIO): left as they are, named by an
   * `unreadable` event each; a run that is otherwise done exits 77 or 74.
   */
  unreadable: number;
  /** The smarthost answered the probe but went away during the run (the agent re-probes). */
  smarthostLost: boolean;
  /** The account's hold, when the run found or made one ('held'): the first of `holds`. */
  hold: AccountHold | null;
  /** Every account hold the run found or made (one held account does not stop the others). */
  holds: AccountHold[];
  durationMs: number;
}

export interface FlushStartEvent {
  smarthost: string;
  dueEntries: number;
  dueRecipients: number;
  /** 0 for the first pass; later passes take entries that became due meanwhile. */
  pass: number;
}

/** More due entries the planner found further down the queue while the pass delivers (a queue longer than one window). */
export interface FlushPlannedEvent {
  dueEntries: number;
  dueRecipients: number;
  pass: number;
}

export interface TransactionEvent {
  id: string;
  smarthost: string;
  outcomes: RecipientOutcome[];
}

export interface FlushEventMap {
  /** Probed every smarthost, none answered. */
  offline: [probes: ProbeResult[]];
  /**
   * Delivery starts: totals for a progress bar, of what the planner has
   * read so far (the first window of the queue: src/flush/flush.ts).
   */
  start: [event: FlushStartEvent];
  /** The planner read further and found more due: to add to the start's totals. */
  planned: [event: FlushPlannedEvent];
  /** One SMTP transaction's outcome, after it is durably recorded. */
  transaction: [event: TransactionEvent];
  /** A bounce (DSN) was queued to the sender of entry `id`, for recipients that failed. */
  bounce: [id: string, subject: string | null];
  /** A delay warning was queued to the sender of entry `id`, listing the recipients still waiting. */
  'delay-warning': [id: string, waiting: string[], subject: string | null];
  /** An entry left the spool (every recipient final). */
  'entry-removed': [id: string];
  /**
   * Recovery found a transaction a crash interrupted before its outcome was
   * recorded: its recipients are marked possible duplicates (and the entry
   * held, with onCrash hold).
   */
  interrupted: [event: { id: string; recipients: string[]; held: boolean }];
  /** A bad entry was moved to corrupt/. */
  corrupt: [id: string, reason: string];
  /** An entry was skipped, left in place: a file of it cannot be read (once per entry and run). */
  unreadable: [id: string, reason: string, exitCode: ExitCode];
  /** The account was paused or held (recorded in the spool before this event). */
  held: [hold: AccountHold];
  /** A problem worth a log line that did not stop the flush. */
  warning: [message: string];
  end: [result: FlushResult];
}

export class FlushEvents extends EventEmitter<FlushEventMap> {}

/** A result with nothing counted yet: the start of every flush's result, and of tests' fakes. */
export function emptyFlushResult(outcome: FlushResult['outcome'], started: number): FlushResult {
  return {
    outcome,
    exitCode: outcome === 'done' || outcome === 'busy' ? 0 : 75,
    busyPid: null,
    smarthost: null,
    probes: [],
    messages: 0,
    sent: 0,
    deferred: 0,
    failed: 0,
    due: 0,
    remaining: 0,
    bounces: 0,
    bouncesSent: 0,
    bouncesUnsent: 0,
    nextAttemptAt: null,
    quarantined: 0,
    unreadable: 0,
    smarthostLost: false,
    hold: null,
    holds: [],
    durationMs: Math.round(performance.now() - started),
  };
}
