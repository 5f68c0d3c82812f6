/**
 * The agent: `bulkmailer agent`, a long-running flusher for a laptop's
 * login session. It owns the spool's instance lock for its whole life (so
 * a cron `flush` exits 0 at once while it runs: promise 5), and decides
 * when to flush:
 *   - at start, then on the node-cron schedule (config `schedule`);
 *   - shortly after a nudge on the trigger socket (an enqueue): a burst of
 *     nudges within NUDGE_DEBOUNCE_MS makes one flush, and a steady stream
 *     still flushes every NUDGE_MAX_WAIT_MS;
 *   - at once when the watcher finds a smarthost reachable again, and after
 *     a resume from sleep;
 *   - when an account's hold ends (a provider's pause, a needs-you
 *     recheck), without waiting for the schedule.
 * Never two flushes at once (flush-queue.ts). While offline (a flush
 * answered 'offline') the schedule and nudges do no SMTP work: the watcher
 * re-probes with capped backoff and says when to flush (docs/agent.md).
 *
 * Everything the agent sets up pushes its releaser on one stack
 * (releasers.ts), so stop() and a start that fails half-way take down
 * exactly what exists, newest first, the instance lock last.
 *
 * stop() (SIGTERM/SIGINT): abort the flush (no new transactions, the one in
 * flight finishes and is recorded), wait at most AGENT_STOP_GRACE_MS, then
 * release. State on disk is consistent at every moment (flush records each
 * transaction durably), so even a stop that times out loses nothing; it may
 * only resend the transaction that was in flight (the duplicate window).
 *
 * What happens is emitted as typed events (AgentEventMap), which tests and
 * `bulkmailer agent --json` follow; the log lines are for people.
 *
 * Failures: start() throws config errors (78) and spool errors; once
 * running, a failing flush or listener is logged and retried, never fatal.
 * The SMTP listener is not the agent's: its starter is passed in (the CLI
 * gives src/frontends' listener), so the agent depends on no front end.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { loadRuntimeConfig, requireTransports, type RuntimeConfig } from '../config/runtime.js';
import { findReachableSmarthost } from '../connectivity/probe-smarthost.js';
import { writeLastProbe } from '../connectivity/last-probe.js';
import { ConnectivityWatcher, type OfflineEvent, type OnlineEvent, type WatcherOptions } from '../connectivity/watcher.js';
import { instanceLockPath, listenForNudges, openSpool, repairSpool, triggerSocketPath, tryLock, type Spool } from '../spool/index.js';
import { isAgentListening, type FlusherPresence } from './agent-presence.js';
import { checkSchedule, scheduleIntervalMs, startSchedule } from './cron-schedule.js';
import { FlushEvents, type FlushResult } from '../flush/flush-events.js';
import type { FlushOptions } from '../flush/flush.js';
import { summarizeFlush } from '../flush/flush-summary.js';
import { Debouncer } from './debounce.js';
import { FlushQueue } from './flush-queue.js';
import { Releasers } from './releasers.js';
import { NotificationBatcher, type Notifier } from './notifications.js';
import { desktopNotifier } from './desktop-notifier.js';
import { isProviderPause } from '../model/account-hold.js';
import { AGENT_STOP_GRACE_MS } from '../timing.js';
import { plural } from '../text.js';

export const NUDGE_DEBOUNCE_MS = 250;
export const NUDGE_MAX_WAIT_MS = 2_000;
/** How often a waiting agent retries the lock held by a one-shot flush. */
const LOCK_RETRY_MS = 1_000;

/** While offline, nudges ask for a probe at most this often. */
const OFFLINE_NUDGE_PROBE_MS = 10_000;

export type FlushReason = 'startup' | 'schedule' | 'nudge' | 'online' | 'resume' | 'reload' | 'pause-over';

/** setTimeout's ceiling (about 24.8 days); a longer hold is woken by the schedule anyway. */
const MAX_TIMER_MS = 2_147_483_647;

/** An SMTP listener the agent runs for config listener.enabled; its starter is given to the agent. */
export interface AgentListener {
  host: string;
  port: number;
  close(): Promise<void>;
}
/**
 * Starts the listener; it calls `onAccepted` after each message it has
 * committed. That is the agent's nudge, taken in-process: through the
 * trigger socket it was a connection per message from the agent to itself.
 */
export type ListenerStarter = (home: string, onAccepted: () => void) => Promise<AgentListener>;

/** A running schedule: what node-cron's task is to the agent. */
export interface AgentSchedule {
  stop(): void;
}
export type ScheduleStarter = (expression: string, onTick: () => void, log: (line: string) => void) => AgentSchedule;

export type ListenerEvent = { state: 'listening'; host: string; port: number } | { state: 'failed'; error: string } | { state: 'closed' };

export interface AgentEventMap {
  /** A one-shot flush holds the spool; the agent waits for it to end. */
  waiting: [event: { pid: number }];
  ready: [event: { pid: number; schedule: string; listener: { host: string; port: number } | null }];
  'flush-start': [event: { n: number; reasons: FlushReason[] }];
  'flush-end': [event: { n: number; reasons: FlushReason[]; result: FlushResult | null; error: string | null }];
  nudge: [];
  online: [event: OnlineEvent];
  offline: [event: OfflineEvent];
  resumed: [event: { sleptMs: number }];
  listener: [event: ListenerEvent];
  reloaded: [event: { schedule: string }];
  'reload-failed': [event: { error: string }];
  /** A desktop notification was shown (config `notifications`), or could not be. */
  notification: [event: { title: string; body: string; error: string | null }];
  stopped: [event: { clean: boolean }];
}

/** Every event name, for whoever relays them all (`bulkmailer agent --json`). */
export const AGENT_EVENTS: readonly (keyof AgentEventMap)[] = [
  'waiting',
  'ready',
  'notification',
  'flush-start',
  'flush-end',
  'nudge',
  'online',
  'offline',
  'resumed',
  'listener',
  'reloaded',
  'reload-failed',
  'stopped',
];

export interface AgentOptions {
  home: string;
  log?: (line: string) => void;
  /** The flush engine (default: flushQueue, loaded lazily). */
  flush?: (options: FlushOptions) => Promise<FlushResult>;
  /** Starts the SMTP listener when config listener.enabled; without it an enabled listener is reported as not started. */
  startListener?: ListenerStarter;
  /** Starts the schedule (default: node-cron through cron-schedule.ts). */
  startSchedule?: ScheduleStarter;
  /** Test seams for the watcher (clock, timers, interfaces, internet). */
  watcher?: Partial<Omit<WatcherOptions, 'smarthosts' | 'scheduleIntervalMs'>>;
  stopGraceMs?: number;
  nudgeDebounceMs?: number;
  /** Test seam: the desktop notifier (default: notify-send or osascript; null: none). */
  notifier?: Notifier | null;
}

export type AgentStartResult = { started: true } | { started: false; holder: FlusherPresence | null };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const cronSchedule: ScheduleStarter = (expression, onTick, log) => {
  const task = startSchedule(expression, onTick, log);
  return { stop: () => void task.destroy() };
};

export class Agent extends EventEmitter<AgentEventMap> {
  private readonly home: string;
  private readonly log: (line: string) => void;
  private readonly options: AgentOptions;
  private config!: RuntimeConfig;
  private spool!: Spool;
  private locked = false;
  private schedule: AgentSchedule | null = null;
  private watcher: ConnectivityWatcher | null = null;
  private listener: AgentListener | null = null;
  private readonly abort = new AbortController();
  private readonly queue: FlushQueue<FlushReason>;
  private readonly releasers: Releasers;
  private flushCount = 0;
  private readonly nudges: Debouncer;
  /** Desktop notifications (config `notifications`), batched and rate-limited; null when off. */
  private notifications: NotificationBatcher | null = null;
  private lastNudgeProbeAt = Number.NEGATIVE_INFINITY;
  private stopping = false;
  private starting: Promise<AgentStartResult> | null = null;
  private stopped: Promise<void> | null = null;
  /** Set once start() has set everything up: reload() before that would race it. */
  private running = false;
  /** Reloads run one after another: two at once could each start a listener. */
  private reloads: Promise<void> = Promise.resolve();
  /** Wakes the agent when an account's hold ends, without waiting for the schedule. */
  private holdTimer: NodeJS.Timeout | null = null;

  constructor(options: AgentOptions) {
    super();
    this.options = options;
    this.home = options.home;
    this.log = options.log ?? (() => {});
    this.nudges = new Debouncer(() => this.onNudgesSettled(), options.nudgeDebounceMs ?? NUDGE_DEBOUNCE_MS, NUDGE_MAX_WAIT_MS);
    this.queue = new FlushQueue((reasons) => this.runFlush(reasons), (err) => this.log(`flush queue: ${String(err)}`));
    this.releasers = new Releasers(this.onReleaseError);
  }

  private readonly onReleaseError = (name: string, err: unknown) => this.log(`cannot release the ${name}: ${(err as Error).message}`);

  get flushes(): number {
    return this.flushCount;
  }

  /** Takes the lock (waiting for a one-shot flush, not for another agent), repairs, listens, schedules. */
  start(): Promise<AgentStartResult> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<AgentStartResult> {
    this.config = loadRuntimeConfig(this.home);
    requireTransports(this.config);
    checkSchedule(this.config.stored.schedule);
    this.spool = await openSpool(this.home);
    this.setupNotifications();

    let waitingSaid = false;
    for (;;) {
      const attempt = tryLock(instanceLockPath(this.spool));
      if (attempt.acquired) {
        const lock = attempt.lock;
        this.locked = true;
        // A flush that ignored the stop keeps the spool ours until it ends; the
        // rest of the teardown does not wait for that.
        this.releasers.push('spool lock', () => {
          const flushing = this.queue.current;
          if (flushing === null) lock.release();
          else
            void flushing.then(() => {
              try {
                lock.release();
              } catch (err) {
                this.onReleaseError('spool lock', err);
              }
            });
        });
        break;
      }
      const pid = attempt.owner?.pid ?? 0;
      if (await isAgentListening(this.spool)) return { started: false, holder: { pid, kind: 'agent', since: attempt.owner?.since ?? '' } };
      // A one-shot flush holds the spool; it ends by itself. Take over then.
      if (!waitingSaid) {
        this.log(`a flush is running (pid ${pid}); waiting for it to finish`);
        this.emit('waiting', { pid });
      }
      waitingSaid = true;
      if (this.stopping) return { started: false, holder: { pid, kind: 'flush', since: attempt.owner?.since ?? '' } };
      await sleep(LOCK_RETRY_MS);
    }

    try {
      // Crash journals are left to the first flush's repair, which reports them as flush events.
      const repair = await repairSpool(this.spool, Date.now(), { recoverJournals: false });
      const repaired = repair.tmpRemoved + repair.commitsCompleted.length + repair.orphanMessagesRemoved + repair.locksRemoved;
      if (repaired > 0) this.log(`repaired the spool: ${JSON.stringify(repair)}`);
      const server = await listenForNudges(this.spool, () => this.onNudge());
      server.on('error', (err) => this.log(`trigger socket: ${err.message}`));
      this.releasers.push('trigger socket', async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await fs.rm(triggerSocketPath(this.spool), { force: true });
      });
      this.releasers.push('nudge timer', () => this.nudges.cancel());
      this.schedule = this.startSchedule(this.config.stored.schedule);
      this.releasers.push('schedule', () => this.schedule?.stop());
      this.syncWatcher();
      this.releasers.push('watcher', () => {
        this.watcher?.stop();
        this.watcher = null;
      });
      this.releasers.push('hold timer', () => {
        if (this.holdTimer !== null) clearTimeout(this.holdTimer);
        this.holdTimer = null;
      });
      this.releasers.push('listener', () => this.closeListener());
      if (this.config.stored.listener.enabled) this.listener = await this.startListener();
    } catch (err) {
      await this.releasers.release();
      this.locked = false;
      throw err;
    }
    if (this.stopping) return { started: false, holder: null }; // stop() releases once start ends
    this.running = true;
    const smarthosts = this.config.smarthosts.map((s) => s.display).join(', ');
    this.log(`agent started (pid ${process.pid}): schedule "${this.config.stored.schedule}", smarthost ${smarthosts}`);
    this.emit('ready', { pid: process.pid, schedule: this.config.stored.schedule, listener: this.listenerAddress() });
    this.requestFlush('startup');
    return { started: true };
  }

  /** Queue a flush; it starts at once unless one is running (then right after it). */
  requestFlush(reason: FlushReason): void {
    if (this.stopping || !this.locked) return;
    this.queue.request(reason);
  }

  private listenerAddress(): { host: string; port: number } | null {
    return this.listener === null ? null : { host: this.listener.host, port: this.listener.port };
  }

  private startSchedule(expression: string): AgentSchedule {
    return (this.options.startSchedule ?? cronSchedule)(expression, () => this.onScheduleTick(), this.log);
  }

  /** A listener that cannot start is logged and the agent goes on delivering: the queue matters more than intake. */
  private async startListener(): Promise<AgentListener | null> {
    try {
      if (this.options.startListener === undefined) throw new Error('this agent was given no listener to start');
      const listener = await this.options.startListener(this.home, () => this.onNudge());
      this.log(`listener: accepting mail on ${listener.host}:${listener.port}`);
      this.emit('listener', { state: 'listening', host: listener.host, port: listener.port });
      return listener;
    } catch (err) {
      const error = (err as Error).message;
      this.log(`listener: not started: ${error}`);
      this.emit('listener', { state: 'failed', error });
      return null;
    }
  }

  private async closeListener(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    if (listener === null) return;
    await listener.close().catch(() => {});
    this.emit('listener', { state: 'closed' });
  }

  /**
   * SIGHUP: re-read config.json; a bad config is logged and the old one kept.
   * A listener that is enabled but not running (it could not start) is tried
   * again. Reloads are serialized; one that ends after stop() leaves nothing running.
   */
  reload(): Promise<void> {
    const next = this.reloads.then(() => this.doReload());
    this.reloads = next.catch(() => {});
    return next;
  }

  private async doReload(): Promise<void> {
    if (this.stopping || !this.running) return;
    let next: RuntimeConfig;
    try {
      next = loadRuntimeConfig(this.home);
      requireTransports(next);
      checkSchedule(next.stored.schedule);
    } catch (err) {
      const error = (err as Error).message;
      this.log(`reload failed, keeping the previous config: ${error}`);
      this.emit('reload-failed', { error });
      return;
    }
    const previous = this.config;
    this.config = next;
    if (next.notifications !== previous.notifications) this.setupNotifications();
    if (next.stored.schedule !== previous.stored.schedule) {
      this.schedule?.stop();
      this.schedule = this.startSchedule(next.stored.schedule);
    }
    this.syncWatcher();
    const listenerChanged = JSON.stringify(next.stored.listener) !== JSON.stringify(previous.stored.listener);
    if (listenerChanged || (next.stored.listener.enabled && this.listener === null)) {
      await this.closeListener();
      const started = next.stored.listener.enabled && !this.stopping ? await this.startListener() : null;
      if (this.stopping) {
        // stop() ran meanwhile and released what it saw: this one is ours to close.
        await started?.close().catch(() => {});
        return;
      }
      this.listener = started;
    }
    if (this.stopping) return;
    this.log(`config reloaded: schedule "${next.stored.schedule}", smarthost ${next.smarthosts.map((s) => s.display).join(', ')}`);
    this.emit('reloaded', { schedule: next.stored.schedule });
    this.requestFlush('reload');
  }

  /**
   * Stops cleanly; resolves once everything is released, or, when the flush
   * ignored the stop for the whole grace period, once everything but the
   * lock is (the lock then goes when that flush ends). Safe to call twice.
   */
  stop(why = 'stop requested'): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      await this.starting?.catch(() => {});
      if (!this.locked) return; // never started (or still waiting for the lock)
      this.log(`stopping (${why})`);
      this.queue.close();
      this.abort.abort();
      const grace = this.options.stopGraceMs ?? AGENT_STOP_GRACE_MS;
      let clean = true;
      const flushing = this.queue.current;
      if (flushing !== null) {
        let timer: NodeJS.Timeout | undefined;
        clean = await Promise.race([
          flushing.then(() => true),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), grace))),
        ]);
        clearTimeout(timer);
        if (!clean) {
          this.log(`the flush did not stop within ${grace}ms; exiting anyway (the transaction in flight may be sent again)`);
        }
      }
      // Everything now; the lock, when a flush that did not stop still runs, once it
      // ends (or the process exits, which leaves a lock of a dead pid, taken over).
      await this.releasers.release();
      this.log('stopped');
      this.emit('stopped', { clean });
    })();
    return this.stopped;
  }

  /**
   * The watcher probes the smarthosts; with none (every route delivers
   * direct) there is nothing to watch, and each flush finds out for itself
   * whether the resolvers answer (direct delivery's "offline").
   */
  private syncWatcher(): void {
    const { smarthosts, stored } = this.config;
    if (smarthosts.length === 0) {
      this.watcher?.stop();
      this.watcher = null;
    } else if (this.watcher === null) {
      this.watcher = this.makeWatcher();
      this.watcher.start();
    } else {
      this.watcher.update({ smarthosts, scheduleIntervalMs: scheduleIntervalMs(stored.schedule) });
    }
  }

  private makeWatcher(): ConnectivityWatcher {
    const watcher = new ConnectivityWatcher({
      smarthosts: this.config.smarthosts,
      scheduleIntervalMs: scheduleIntervalMs(this.config.stored.schedule),
      probe: async (smarthosts) => {
        const c = this.config;
        const outcome = await findReachableSmarthost(smarthosts, { timeoutMs: c.timeouts.probeMs, tlsVerify: c.tlsVerify, tlsCa: c.tlsCa });
        await writeLastProbe(this.home, outcome.probes);
        return outcome;
      },
      ...this.options.watcher,
    });
    watcher.on('online', (event) => {
      const ms = event.probes.find((p) => p.reachable)?.ms;
      this.log(`online: ${event.smarthost} answered${ms === undefined ? '' : ` in ${ms}ms`} (after ${event.trigger})`);
      this.emit('online', event);
      this.requestFlush('online');
    });
    watcher.on('offline', (event) => {
      this.emit('offline', event);
      if (!event.changed) return;
      const why = event.reason === 'unreachable' ? 'no smarthost answered' : event.reason === 'no-network' ? 'no network' : 'no internet';
      this.log(`offline: ${why}; probing again in ${Math.round(event.retryInMs / 1000)}s, backing off to at most the schedule interval`);
    });
    watcher.on('resumed', (event) => {
      this.log(`resumed after about ${Math.round(event.sleptMs / 1000)}s asleep`);
      this.emit('resumed', event);
      // Offline, the watcher re-probes by itself and says 'online' if it can.
      if (watcher.state !== 'offline') this.requestFlush('resume');
    });
    watcher.on('network-changed', (event) => {
      const parts = [...event.added.map((a) => `+${a}`), ...event.removed.map((r) => `-${r}`)];
      this.log(`network changed: ${parts.join(', ')}`);
    });
    return watcher;
  }

  private onScheduleTick(): void {
    // Offline, the watcher's re-probe (never slower than the schedule) takes over.
    if (this.watcher?.state === 'offline') return;
    this.requestFlush('schedule');
  }

  private onNudge(): void {
    this.emit('nudge');
    if (this.stopping) return;
    this.nudges.poke();
  }

  /**
   * A burst of nudges has settled. Online: one flush. Offline: one probe
   * instead (no SMTP work while offline), and at most one per
   * OFFLINE_NUDGE_PROBE_MS, so a script enqueueing hundreds of messages
   * offline does not turn into hundreds of connectivity checks.
   */
  private onNudgesSettled(): void {
    if (this.stopping) return;
    if (this.watcher?.state !== 'offline') {
      this.requestFlush('nudge');
      return;
    }
    const now = Date.now();
    if (now - this.lastNudgeProbeAt < OFFLINE_NUDGE_PROBE_MS) return;
    this.lastNudgeProbeAt = now;
    void this.watcher.probeNow('request');
  }

  /** One timer, for the hold ending soonest: the flush it starts finds any other hold still in force. */
  private wakeAt(at: number, tag: string): void {
    if (this.stopping) return;
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()) + 1_000);
    this.log(`${tag}: will flush again at ${new Date(Date.now() + delay).toISOString()}, when the hold ends`);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.requestFlush('pause-over');
    }, delay);
    this.holdTimer.unref();
  }

  private setupNotifications(): void {
    this.notifications = null;
    if (!this.config.notifications) return;
    const notifier = this.options.notifier !== undefined ? this.options.notifier : desktopNotifier();
    if (notifier === null) {
      this.log('desktop notifications are not available on this platform');
      return;
    }
    const logged: Notifier = {
      notify: async (n) => {
        try {
          await notifier.notify(n);
        } catch (err) {
          this.emit('notification', { title: n.title, body: n.body, error: (err as Error).message });
          throw err;
        }
        this.log(`notification: ${n.title}`);
        this.emit('notification', { title: n.title, body: n.body, error: null });
      },
    };
    this.notifications = new NotificationBatcher(logged, Date.now, (err) => this.log(`notification not shown: ${err.message}`));
  }

  /** What a flush does that the user should see on the desktop; sent (batched) when it ends. */
  private watchForNotifications(events: FlushEvents): void {
    const notes = this.notifications;
    if (notes === null) return;
    events.on('bounce', (id, subject) => notes.add({ kind: 'bounced', id, subject }));
    events.on('delay-warning', (id, waiting, subject) => notes.add({ kind: 'delayed', id, subject, waiting: waiting.length }));
    // An account paused by its provider, or held until the user acts (AUTH, sender, TLS, DNS refused).
    events.on('held', (hold) => {
      const account = hold.account === 'default' ? (this.config.smarthosts[0]?.display ?? hold.account) : hold.account;
      const state = isProviderPause(hold.kind) ? `paused by its provider until ${hold.until}` : 'held until you act';
      notes.add({ kind: 'account-attention', account, reason: `${state} (${hold.kind}): ${hold.reply}` });
    });
    events.on('interrupted', (event) => {
      if (event.held) {
        notes.add({ kind: 'held', id: event.id, reason: 'A crash interrupted its delivery: some recipients may have it already.' });
      }
    });
  }

  private async runFlush(reasons: FlushReason[]): Promise<void> {
    const n = ++this.flushCount;
    const tag = `flush #${n} (${reasons.join(', ')})`;
    this.emit('flush-start', { n, reasons });
    const events = new FlushEvents();
    events.on('start', (e) => this.log(`${tag}: delivering ${plural(e.dueRecipients, 'recipient')} of ${plural(e.dueEntries, 'message')} via ${e.smarthost}`));
    events.on('warning', (message) => this.log(`${tag}: ${message}`));
    events.on('corrupt', (id, reason) => this.log(`${tag}: quarantined ${id}: ${reason}`));
    events.on('unreadable', (id, reason) => this.log(`${tag}: skipped ${id}, left in the queue: ${reason}`));
    this.watchForNotifications(events);
    let result: FlushResult | null = null;
    let error: string | null = null;
    try {
      const flush = this.options.flush ?? (await import('../flush/flush.js')).flushQueue;
      result = await flush({ home: this.home, config: this.config, events, signal: this.abort.signal, instanceLockHeld: true });
      this.log(`${tag}: ${result.outcome}: ${summarizeFlush(result)}`);
      if (result.outcome === 'held' && result.hold !== null) {
        // Several accounts may be held: wake for the one whose hold ends first.
        const ends = [result.hold, ...result.holds].map((h) => Date.parse(h.until));
        this.wakeAt(Math.min(...ends), tag);
      }
      // The flush has recorded its own probe (last-probe.json) already.
      if (result.outcome === 'offline') {
        this.watcher?.reportFlush('offline', result.probes);
      } else if (result.smarthostLost) {
        // It answered the probe, then went away mid-run: back to re-probing, not the schedule.
        this.watcher?.reportFlush('offline');
      } else if (result.smarthost !== null && result.outcome !== 'stopped') {
        this.watcher?.reportFlush('reachable');
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      this.log(`${tag}: failed: ${error}`);
    }
    await this.notifications?.send();
    this.emit('flush-end', { n, reasons, result, error });
  }
}
