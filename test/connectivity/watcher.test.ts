/**
 * The connectivity watcher with injected clocks, timers, interfaces and
 * probes: what it probes and when, and which events it emits. No network:
 * the probes are fakes, the smarthost hosts are never contacted.
 */
import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { parseSmarthostUrl, type Smarthost } from '../../src/config/smarthost.js';
import type { InternetCheckResult } from '../../src/connectivity/internet.js';
import type { ProbeResult } from '../../src/connectivity/probe-smarthost.js';
import { ConnectivityWatcher, type OfflineEvent, type WatcherEventMap } from '../../src/connectivity/watcher.js';
import { FakeTime } from './fake-time.js';

const POLL = 5_000;
const LOOPBACK = parseSmarthostUrl('smtp://127.0.0.1:2525');
const INTERNET = parseSmarthostUrl('smtp://mail.example.net:587');

function iface(address: string): os.NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: false, cidr: `${address}/24` };
}
/** Advances exactly to the next interface poll (they run every POLL ms of monotonic time). */
const toNextPoll = (time: FakeTime) => time.advance(POLL - (time.mono % POLL));

const LO: os.NetworkInterfaceInfo = { ...iface('127.0.0.1'), internal: true };

function setup(
  options: { smarthost?: Smarthost; scheduleIntervalMs?: number; online?: boolean; table?: NodeJS.Dict<os.NetworkInterfaceInfo[]> } = {},
) {
  const time = new FakeTime();
  const state = {
    reachable: false,
    internetOnline: options.online ?? true,
    table: options.table ?? ({ lo: [LO], wlan0: [iface('192.168.1.20')] } as NodeJS.Dict<os.NetworkInterfaceInfo[]>),
    probes: 0,
    internetChecks: 0,
  };
  const smarthost = options.smarthost ?? LOOPBACK;
  const result = (reachable: boolean): ProbeResult => ({
    smarthost: smarthost.display,
    reachable,
    ms: 3,
    greeting: reachable ? '220 ok' : null,
    error: reachable ? null : 'ECONNREFUSED',
  });
  const watcher = new ConnectivityWatcher({
    smarthosts: [smarthost],
    scheduleIntervalMs: options.scheduleIntervalMs ?? 60_000,
    clock: time.clock,
    timers: time.timerApi,
    pollMs: POLL,
    interfaces: () => state.table,
    internet: async (): Promise<InternetCheckResult> => {
      state.internetChecks++;
      return { online: state.internetOnline, ms: 1, error: null };
    },
    probe: async () => {
      state.probes++;
      return { smarthost: state.reachable ? smarthost : null, probes: [result(state.reachable)] };
    },
  });
  const events: { name: keyof WatcherEventMap; args: unknown[] }[] = [];
  for (const name of ['online', 'offline', 'resumed', 'network-changed', 'probe'] as const) {
    watcher.on(name, (...args: unknown[]) => events.push({ name, args }));
  }
  const named = (name: keyof WatcherEventMap) => events.filter((e) => e.name === name);
  watcher.start();
  return { time, state, watcher, events, named };
}

test('online and nothing changing: no probes, just the cheap interface poll', async () => {
  const { time, state, watcher, events } = setup();
  watcher.reportFlush('reachable');
  await time.advance(30 * 60_000);
  assert.equal(state.probes, 0);
  assert.deepEqual(events, []);
  assert.deepEqual(time.pending(), [POLL], 'only the poll timer is armed');
  watcher.stop();
  assert.deepEqual(time.pending(), []);
});

test('offline: re-probe with exponential backoff, capped at the schedule interval', async () => {
  const { time, state, watcher, named } = setup({ scheduleIntervalMs: 60_000 });
  watcher.reportFlush('offline');
  await time.advance(10 * 60_000);
  const delays = named('offline').map((e) => (e.args[0] as OfflineEvent).retryInMs);
  assert.deepEqual(delays.slice(0, 9), [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  // 1+2+4+8+16+32 = 63 s, then one per minute: 6 + 8 probes in 10 minutes.
  assert.equal(state.probes, 6 + 8);
  assert.equal(named('offline').filter((e) => (e.args[0] as OfflineEvent).changed).length, 1, 'one transition');
  assert.equal(watcher.state, 'offline');
  watcher.stop();
});

test('a successful re-probe says online; the backoff resets only after a flush that reached the smarthost', async () => {
  const { time, state, watcher, named } = setup();
  watcher.reportFlush('offline'); // next probe in 1 s
  await time.advance(1_000 + 2_000); // two failed probes
  assert.equal(state.probes, 2);
  state.reachable = true;
  await time.advance(4_000);
  assert.equal(state.probes, 3);
  assert.equal(named('online').length, 1);
  assert.equal(watcher.state, 'online');

  // The flush that followed still failed: the backoff goes on from where it was.
  watcher.reportFlush('offline');
  const last = named('offline').at(-1)!.args[0] as OfflineEvent;
  assert.equal(last.retryInMs, 8_000);
  watcher.reportFlush('reachable');
  assert.equal(watcher.attempts, 0);
  assert.deepEqual(time.pending(), [POLL - (7_000 % POLL)]);
  watcher.stop();
});

test('an interface change while offline probes at once (backoff reset)', async () => {
  const { time, state, watcher, named } = setup({ scheduleIntervalMs: 15 * 60_000 });
  watcher.reportFlush('offline');
  await time.advance(1_000 + 2_000 + 4_000 + 8_000 + 16_000); // next re-probe 32 s away
  const before = state.probes;
  state.table = { lo: [LO], wlan0: [iface('10.1.2.3')] };
  state.reachable = true;
  await time.advance(POLL);
  assert.equal(named('network-changed').length, 1);
  const change = named('network-changed')[0]!.args[0] as { added: string[]; removed: string[] };
  assert.deepEqual(change.added, ['wlan0 IPv4 10.1.2.3']);
  assert.deepEqual(change.removed, ['wlan0 IPv4 192.168.1.20']);
  assert.equal(state.probes, before + 1, 'probed on the poll that saw the change, not 32 s later');
  assert.equal((named('online')[0]!.args[0] as { trigger: string }).trigger, 'network');
  watcher.stop();
});

test('a wall-clock jump the monotonic clock did not see is a resume; a late tick is not', async () => {
  const { time, state, watcher, named } = setup();
  watcher.reportFlush('reachable');
  // A stalled event loop: both clocks move 60 s before the tick runs.
  time.mono += 60_000;
  time.wall += 60_000;
  await time.advance(0);
  assert.equal(named('resumed').length, 0);

  time.sleep(45 * 60_000);
  await time.advance(POLL);
  assert.equal(named('resumed').length, 1);
  assert.equal((named('resumed')[0]!.args[0] as { sleptMs: number }).sleptMs, 45 * 60_000);
  assert.equal(state.probes, 0, 'online: the agent flushes on resume, the watcher does not probe');

  // Offline with a long backoff: a resume probes at once.
  watcher.reportFlush('offline');
  await time.advance(1_000 + 2_000 + 4_000);
  const before = state.probes;
  time.sleep(10 * 60_000);
  await toNextPoll(time);
  assert.equal(named('resumed').length, 2);
  assert.equal(state.probes, before + 1);
  watcher.stop();
});

test('internet smarthost: no interface -> no traffic at all; then is-online before the smarthost probe', async () => {
  const { time, state, watcher, named } = setup({ smarthost: INTERNET, online: false, table: { lo: [LO] } });
  watcher.reportFlush('offline');
  await time.advance(1_000 + 2_000 + 4_000); // three re-probes; the next is at 15 s, after the poll at 10 s
  assert.equal(state.internetChecks, 0);
  assert.equal(state.probes, 0);
  assert.equal((named('probe').at(-1)!.args[0] as { reason: string }).reason, 'no-network');

  state.table = { lo: [LO], wlan0: [iface('192.168.1.20')] };
  await toNextPoll(time); // the change is seen: probe now
  assert.equal(state.internetChecks, 1);
  assert.equal(state.probes, 0, 'the internet is not back: the smarthost is not probed');
  assert.equal((named('probe').at(-1)!.args[0] as { reason: string }).reason, 'no-internet');

  state.internetOnline = true;
  state.reachable = true;
  await watcher.probeNow('request');
  assert.equal(state.internetChecks, 2);
  assert.equal(state.probes, 1);
  assert.equal(watcher.state, 'online');
  watcher.stop();
});

test('online with an internet smarthost: losing every interface means offline at once', async () => {
  const { time, state, watcher, named } = setup({ smarthost: INTERNET });
  watcher.reportFlush('reachable');
  state.table = { lo: [LO] };
  await time.advance(POLL);
  assert.equal(watcher.state, 'offline');
  assert.equal((named('offline')[0]!.args[0] as OfflineEvent).reason, 'no-network');
  assert.equal(state.probes + state.internetChecks, 0);
  watcher.stop();
});

test('loopback smarthost: probed with no external interface and no internet check', async () => {
  const { time, state, watcher } = setup({ smarthost: LOOPBACK, online: false });
  state.table = { lo: [LO] };
  watcher.reportFlush('offline');
  await time.advance(1_000);
  assert.equal(state.probes, 1);
  assert.equal(state.internetChecks, 0);
  watcher.stop();
});

test('probeNow while a probe runs joins it instead of probing twice', async () => {
  const { state, watcher } = setup();
  watcher.reportFlush('offline');
  await Promise.all([watcher.probeNow(), watcher.probeNow(), watcher.probeNow()]);
  assert.equal(state.probes, 1);
  watcher.stop();
});
