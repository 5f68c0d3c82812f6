/**
 * The connectivity watcher: notices when delivery may have become possible
 * without polling the smarthost while nothing changes.
 *
 * What it watches (all local, no network traffic):
 *   - the interface list (os.networkInterfaces), every `pollMs`: an address
 *     appearing, disappearing or changing is a `network-changed` event;
 *   - the wall clock against the monotonic clock on the same tick: when the
 *     wall clock moved more than `resumeThresholdMs` further than the
 *     monotonic one, the machine was asleep (monotonic clocks stop during
 *     suspend on Linux and macOS): a `resumed` event. A tick that merely runs
 *     late (busy event loop) moves both clocks alike and is not a resume.
 * What it probes (network traffic), only while `offline`:
 *   - a re-probe with capped exponential backoff (reprobe-backoff.ts), reset
 *     to the first step by a network change or a resume. Each re-probe is
 *     gated: no external interface and a smarthost off this machine -> no
 *     traffic at all; a smarthost on the internet -> ask is-online first;
 *     then the smarthost probe itself, which has the final word.
 *
 * The agent tells the watcher what its flushes found (`reportFlush`); the
 * watcher tells the agent (`online`) when a re-probe succeeds. It never
 * throws: probes answer values. Everything time-related is injected
 * (`clock`, `timers`), and so are the probes, so tests drive it
 * deterministically.
 */
import { EventEmitter } from 'node:events';
import type { Smarthost } from '../config/smarthost.js';
import { diffFingerprints, externalAddresses, interfaceFingerprint, readInterfaces, type ReadInterfaces } from './interfaces.js';
import { checkInternet, needsInternetCheck, needsNetwork, type InternetCheckResult } from './internet.js';
import type { ProbeResult } from './probe-smarthost.js';
import { REPROBE_FACTOR, REPROBE_START_MS, reprobeDelay, reprobePolicy, type ReprobePolicy } from './reprobe-backoff.js';

export const INTERFACE_POLL_MS = 5_000;
/** Larger than any plausible event-loop stall, smaller than a nap worth noticing. */
export const RESUME_THRESHOLD_MS = 20_000;

export type ConnectivityState = 'unknown' | 'online' | 'offline';
export type OfflineReason = 'unreachable' | 'no-network' | 'no-internet';
export type ProbeTrigger = 'backoff' | 'network' | 'resume' | 'request';

export interface ProbeOutcome {
  smarthost: Smarthost | null;
  probes: ProbeResult[];
}

export interface WatcherClock {
  /** Wall-clock ms (Date.now). */
  wallNow(): number;
  /** Monotonic ms that stops while the machine sleeps (performance.now). */
  monoNow(): number;
}

export interface WatcherTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WatcherSettings {
  smarthosts: readonly Smarthost[];
  /** Interval of the agent's schedule: the re-probe backoff never grows past it. */
  scheduleIntervalMs: number;
}

export interface WatcherOptions extends WatcherSettings {
  /** Probe the smarthosts in order; answers the first reachable one. */
  probe: (smarthosts: readonly Smarthost[]) => Promise<ProbeOutcome>;
  /** The is-online check; default: checkInternet with a 5 s timeout. */
  internet?: () => Promise<InternetCheckResult>;
  interfaces?: ReadInterfaces;
  clock?: WatcherClock;
  timers?: WatcherTimers;
  pollMs?: number;
  resumeThresholdMs?: number;
  backoffStartMs?: number;
  backoffFactor?: number;
}

export interface OnlineEvent {
  smarthost: string;
  probes: ProbeResult[];
  trigger: ProbeTrigger;
}

export interface OfflineEvent {
  reason: OfflineReason;
  probes: ProbeResult[];
  internet: InternetCheckResult | null;
  /** The watcher was not offline before this (a transition, worth a log line). */
  changed: boolean;
  /** When the next re-probe happens. */
  retryInMs: number;
}

export interface ProbeEvent {
  trigger: ProbeTrigger;
  reachable: boolean;
  reason: OfflineReason | null;
  probes: ProbeResult[];
  internet: InternetCheckResult | null;
}

export interface WatcherEventMap {
  'network-changed': [event: { added: string[]; removed: string[]; external: number }];
  resumed: [event: { sleptMs: number }];
  online: [event: OnlineEvent];
  offline: [event: OfflineEvent];
  probe: [event: ProbeEvent];
}

const realClock: WatcherClock = { wallNow: () => Date.now(), monoNow: () => performance.now() };
const realTimers: WatcherTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class ConnectivityWatcher extends EventEmitter<WatcherEventMap> {
  private settings: WatcherSettings;
  private policy: ReprobePolicy;
  private readonly options: WatcherOptions;
  private readonly clock: WatcherClock;
  private readonly timers: WatcherTimers;
  private readonly readIfaces: ReadInterfaces;
  private readonly pollMs: number;
  private readonly resumeThresholdMs: number;

  private current: ConnectivityState = 'unknown';
  private attempt = 0;
  private running = false;
  private pollTimer: unknown = null;
  private reprobeTimer: unknown = null;
  private probing: Promise<void> | null = null;
  private fingerprint: string[] = [];
  private lastWall = 0;
  private lastMono = 0;

  constructor(options: WatcherOptions) {
    super();
    this.options = options;
    this.settings = { smarthosts: options.smarthosts, scheduleIntervalMs: options.scheduleIntervalMs };
    this.clock = options.clock ?? realClock;
    this.timers = options.timers ?? realTimers;
    this.readIfaces = options.interfaces ?? readInterfaces;
    this.pollMs = options.pollMs ?? INTERFACE_POLL_MS;
    this.resumeThresholdMs = options.resumeThresholdMs ?? RESUME_THRESHOLD_MS;
    this.policy = this.makePolicy();
  }

  get state(): ConnectivityState {
    return this.current;
  }

  /** The re-probe attempt count since the last successful flush (for tests and logs). */
  get attempts(): number {
    return this.attempt;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.fingerprint = interfaceFingerprint(this.readIfaces());
    this.lastWall = this.clock.wallNow();
    this.lastMono = this.clock.monoNow();
    this.armPoll();
  }

  stop(): void {
    this.running = false;
    this.timers.clearTimeout(this.pollTimer);
    this.timers.clearTimeout(this.reprobeTimer);
    this.pollTimer = null;
    this.reprobeTimer = null;
  }

  /** New smarthosts or schedule (SIGHUP). A pending re-probe keeps its time. */
  update(settings: WatcherSettings): void {
    this.settings = settings;
    this.policy = this.makePolicy();
  }

  /**
   * What a flush found. `offline`: nothing reachable, start (or continue)
   * the re-probe backoff. `reachable`: delivery worked; stop re-probing and
   * forget the backoff.
   */
  reportFlush(result: 'offline' | 'reachable', probes: ProbeResult[] = []): void {
    if (!this.running) return;
    if (result === 'offline') {
      this.goOffline('unreachable', probes, null);
    } else {
      this.timers.clearTimeout(this.reprobeTimer);
      this.reprobeTimer = null;
      this.attempt = 0;
      this.current = 'online';
    }
  }

  /**
   * Probe now (a nudge arrived while offline, say), unless a probe is
   * already running: then wait for that one. The backoff is not reset.
   */
  probeNow(trigger: ProbeTrigger = 'request'): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (this.probing !== null) return this.probing;
    this.timers.clearTimeout(this.reprobeTimer);
    this.reprobeTimer = null;
    this.probing = this.runProbe(trigger).finally(() => {
      this.probing = null;
    });
    return this.probing;
  }

  private makePolicy(): ReprobePolicy {
    return reprobePolicy(
      this.settings.scheduleIntervalMs,
      this.options.backoffStartMs ?? REPROBE_START_MS,
      this.options.backoffFactor ?? REPROBE_FACTOR,
    );
  }

  private armPoll(): void {
    if (!this.running) return;
    this.pollTimer = this.timers.setTimeout(() => this.tick(), this.pollMs);
  }

  /** One poll: clocks, then interfaces. Local calls only. */
  private tick(): void {
    if (!this.running) return;
    const wall = this.clock.wallNow();
    const mono = this.clock.monoNow();
    const sleptMs = wall - this.lastWall - (mono - this.lastMono);
    this.lastWall = wall;
    this.lastMono = mono;
    let reprobe: ProbeTrigger | null = null;
    if (sleptMs > this.resumeThresholdMs) {
      this.emit('resumed', { sleptMs: Math.round(sleptMs) });
      reprobe = 'resume';
    }
    const table = this.readIfaces();
    const now = interfaceFingerprint(table);
    const diff = diffFingerprints(this.fingerprint, now);
    if (diff.added.length > 0 || diff.removed.length > 0) {
      this.fingerprint = now;
      this.emit('network-changed', { ...diff, external: now.length });
      reprobe ??= 'network';
      if (this.current === 'online' && needsNetwork(this.settings.smarthosts) && externalAddresses(table).length === 0) {
        // The cable is out: say so now rather than at the next failed flush.
        this.goOffline('no-network', [], null);
        reprobe = null;
      }
    }
    if (reprobe !== null && this.current === 'offline') {
      this.attempt = 0;
      void this.probeNow(reprobe);
    }
    this.armPoll();
  }

  private async runProbe(trigger: ProbeTrigger): Promise<void> {
    const smarthosts = this.settings.smarthosts;
    let internet: InternetCheckResult | null = null;
    let outcome: ProbeOutcome = { smarthost: null, probes: [] };
    let reason: OfflineReason | null = null;
    if (needsNetwork(smarthosts) && externalAddresses(this.readIfaces()).length === 0) {
      reason = 'no-network';
    } else if (needsInternetCheck(smarthosts)) {
      internet = await (this.options.internet ?? (() => checkInternet({ timeoutMs: 5_000 })))();
      if (!internet.online) reason = 'no-internet';
    }
    if (reason === null) {
      outcome = await this.options.probe(smarthosts);
      if (outcome.smarthost === null) reason = 'unreachable';
    }
    if (!this.running) return;
    this.emit('probe', { trigger, reachable: reason === null, reason, probes: outcome.probes, internet });
    if (reason === null && outcome.smarthost !== null) {
      // attempt is kept: if the flush this triggers finds the smarthost
      // unreachable after all, the backoff goes on from here (no probe storm).
      this.current = 'online';
      this.emit('online', { smarthost: outcome.smarthost.display, probes: outcome.probes, trigger });
    } else {
      this.goOffline(reason ?? 'unreachable', outcome.probes, internet);
    }
  }

  private goOffline(reason: OfflineReason, probes: ProbeResult[], internet: InternetCheckResult | null): void {
    const changed = this.current !== 'offline';
    this.current = 'offline';
    const delay = reprobeDelay(this.attempt, this.policy);
    this.attempt++;
    this.timers.clearTimeout(this.reprobeTimer);
    this.reprobeTimer = this.timers.setTimeout(() => {
      this.reprobeTimer = null;
      void this.probeNow('backoff');
    }, delay);
    this.emit('offline', { reason, probes, internet, changed, retryInMs: delay });
  }
}
