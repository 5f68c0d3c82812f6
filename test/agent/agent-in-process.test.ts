/**
 * The agent in-process, with the flush engine and the watcher's probe
 * injected: triggers during a flush make exactly one more flush; while
 * offline, schedule ticks do nothing and a nudge probes instead of
 * flushing; a flush that ignores its abort signal cannot hold stop()
 * beyond the grace period. Waits on the agent's typed events only.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import nodemailer from 'nodemailer';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseSmarthostUrl } from '../../src/config/smarthost.js';
import type { FlushOptions } from '../../src/flush/flush.js';
import { emptyFlushResult, type FlushOutcome, type FlushResult } from '../../src/flush/flush-events.js';
import { Agent, type FlushReason } from '../../src/agent/agent.js';
import { listStateFileIdsIncludingFinished, nudgeFlusher, openSpool, triggerSocketPath } from '../../src/spool/index.js';
import { startAgentListener } from '../../src/cli/commands/agent.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';

// Never contacted: the flush and the probe are fakes.
const SMARTHOST = 'smtp://127.0.0.1:9';
let home: TempHome;

before(async () => {
  home = await makeTempHome();
  await writeConfig(home.home, { smarthost: SMARTHOST, schedule: '0 0 1 1 *' });
});
after(() => home.cleanup());

function result(outcome: FlushOutcome): FlushResult {
  const display = parseSmarthostUrl(SMARTHOST).display;
  return {
    ...emptyFlushResult(outcome, performance.now()),
    smarthost: outcome === 'offline' ? null : display,
    probes: [{ smarthost: display, reachable: outcome !== 'offline', ms: 1, greeting: null, error: outcome === 'offline' ? 'ECONNREFUSED' : null }],
    messages: 1,
    sent: 1,
    due: 1,
    remaining: outcome === 'offline' ? 1 : 0,
    durationMs: 1,
  };
}

/** A schedule the test ticks by hand: what node-cron does at each match. */
function manualSchedule() {
  const ticks: (() => void)[] = [];
  return {
    start: (_expression: string, onTick: () => void) => {
      ticks.push(onTick);
      return { stop: () => void ticks.splice(ticks.indexOf(onTick), 1) };
    },
    tick: () => ticks.forEach((t) => t()),
  };
}

/** A flush engine whose every call waits until the test releases it. */
function gatedFlush() {
  const calls: { options: FlushOptions; release: (r: FlushResult) => void }[] = [];
  const waiting: (() => void)[] = [];
  const flush = (options: FlushOptions) =>
    new Promise<FlushResult>((resolve) => {
      calls.push({ options, release: resolve });
      waiting.splice(0).forEach((w) => w());
    });
  const nextCall = async (n: number) => {
    while (calls.length < n) await new Promise<void>((resolve) => waiting.push(resolve));
    return calls[n - 1]!;
  };
  return { flush, calls, nextCall };
}

test('triggers during a flush make exactly one more flush, never two at once', async () => {
  const engine = gatedFlush();
  const agent = new Agent({ home: home.home, flush: engine.flush, watcher: { probe: async () => ({ smarthost: null, probes: [] }) } });
  const starts: FlushReason[][] = [];
  agent.on('flush-start', (e) => starts.push(e.reasons));
  assert.deepEqual(await agent.start(), { started: true });
  const first = await engine.nextCall(1);
  assert.equal(first.options.instanceLockHeld, true);

  agent.requestFlush('schedule');
  agent.requestFlush('online');
  agent.requestFlush('schedule');
  assert.equal(engine.calls.length, 1, 'no second flush while one runs');
  first.release(result('done'));
  const second = await engine.nextCall(2);
  assert.deepEqual(starts, [['startup'], ['schedule', 'online']]);
  const ended = once(agent, 'flush-end');
  second.release(result('done'));
  await ended;
  assert.equal(agent.flushes, 2);

  const stopped = once(agent, 'stopped');
  await agent.stop('test');
  assert.deepEqual((await stopped)[0], { clean: true });
});

test('offline: schedule ticks are skipped, a nudge probes, the probe finding the smarthost flushes', async () => {
  const engine = gatedFlush();
  let probes = 0;
  const smarthost = parseSmarthostUrl(SMARTHOST);
  const schedule = manualSchedule();
  const agent = new Agent({
    home: home.home,
    flush: engine.flush,
    startSchedule: schedule.start,
    nudgeDebounceMs: 0,
    watcher: {
      backoffStartMs: 60_000, // no re-probe by itself during the test
      probe: async () => {
        probes++;
        return { smarthost, probes: [{ smarthost: smarthost.display, reachable: true, ms: 1, greeting: '220 hi', error: null }] };
      },
    },
  });
  await agent.start();
  const offline = once(agent, 'offline');
  (await engine.nextCall(1)).release(result('offline'));
  await offline;

  schedule.tick();
  assert.equal(engine.calls.length, 1, 'offline: the schedule does not flush');

  const online = once(agent, 'online');
  assert.equal(await nudgeFlusher(await openSpool(home.home)), true);
  await online;
  assert.equal(probes, 1);
  const second = await engine.nextCall(2);
  const ended = once(agent, 'flush-end');
  second.release(result('done'));
  const [end] = await ended;
  assert.deepEqual(end.reasons, ['online']);
  await agent.stop('test');
});

test('offline, a stream of nudges asks for one probe, not one per message', { timeout: 20_000 }, async () => {
  const engine = gatedFlush();
  const smarthost = parseSmarthostUrl(SMARTHOST);
  let probes = 0;
  let firstProbe: () => void = () => {};
  const probed = new Promise<void>((resolve) => (firstProbe = resolve));
  const agent = new Agent({
    home: home.home,
    flush: engine.flush,
    nudgeDebounceMs: 0,
    watcher: {
      backoffStartMs: 60_000,
      probe: async () => {
        probes++;
        firstProbe();
        return { smarthost: null, probes: [{ smarthost: smarthost.display, reachable: false, ms: 1, greeting: null, error: 'ECONNREFUSED' }] };
      },
    },
  });
  await agent.start();
  const offline = once(agent, 'offline');
  (await engine.nextCall(1)).release(result('offline'));
  await offline;
  const spool = await openSpool(home.home);
  for (let i = 0; i < 5; i++) await nudgeFlusher(spool);
  await probed;
  for (let i = 0; i < 20; i++) await nudgeFlusher(spool);
  // Absence can only be shown by waiting: long enough for the debouncer (0 ms here) to fire again.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(probes, 1, '25 nudges while offline: one probe');
  assert.equal(engine.calls.length, 1, 'and no SMTP work');
  await agent.stop('test');
});

test('a smarthost lost in the middle of a flush sends the agent back to re-probing, not to its schedule', async () => {
  const engine = gatedFlush();
  const smarthost = parseSmarthostUrl(SMARTHOST);
  const schedule = manualSchedule();
  const agent = new Agent({
    home: home.home,
    flush: engine.flush,
    startSchedule: schedule.start,
    nudgeDebounceMs: 0,
    watcher: {
      backoffStartMs: 60_000,
      probe: async () => ({ smarthost, probes: [{ smarthost: smarthost.display, reachable: true, ms: 1, greeting: '220 hi', error: null }] }),
    },
  });
  await agent.start();
  const offline = once(agent, 'offline');
  (await engine.nextCall(1)).release({ ...result('pending'), smarthostLost: true });
  await offline;
  schedule.tick();
  assert.equal(engine.calls.length, 1, 'treated as offline: the schedule does not flush');
  await agent.stop('test');
});

test('stop() gives a flush that ignores its signal the grace period; the lock stays until that flush ends', async () => {
  const engine = gatedFlush();
  const agent = new Agent({ home: home.home, flush: engine.flush, stopGraceMs: 300 });
  await agent.start();
  const call = await engine.nextCall(1);
  const stopped = once(agent, 'stopped');
  const t0 = performance.now();
  await agent.stop('test');
  const ms = performance.now() - t0;
  assert.deepEqual((await stopped)[0], { clean: false });
  assert.ok(call.options.signal?.aborted, 'the flush was told to stop');
  assert.ok(ms >= 250 && ms < 5_000, `stop took ${Math.round(ms)}ms`);
  const lockDir = path.join(home.home, 'spool', 'lock');
  const held = async () => (await fs.readdir(lockDir)).filter((n) => n === 'instance' || n === 'trigger.sock');
  // The flush still runs (and may still be writing state): no other flusher may start yet.
  assert.deepEqual(await held(), ['instance'], 'the trigger socket is gone, the instance lock is not');
  const ended = once(agent, 'flush-end');
  call.release(result('stopped'));
  await ended;
  for (let i = 0; i < 100 && (await held()).length > 0; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(await held(), [], 'released once the flush ended');
});

test('an account pause: the agent flushes again when it ends, without waiting for the schedule', async () => {
  const engine = gatedFlush();
  const lines: string[] = [];
  const agent = new Agent({ home: home.home, flush: engine.flush, log: (l) => lines.push(l), watcher: { probe: async () => ({ smarthost: null, probes: [] }) } });
  const starts: FlushReason[][] = [];
  agent.on('flush-start', (e) => starts.push(e.reasons));
  await agent.start();
  const now = Date.now();
  const held: FlushResult = {
    ...result('done'),
    outcome: 'held',
    exitCode: 75,
    remaining: 1,
    hold: {
      version: 1,
      account: 'default',
      kind: 'quota',
      reply: '550 5.4.5 Daily user sending limit exceeded',
      rule: 'gmail-daily-limit',
      since: new Date(now).toISOString(),
      until: new Date(now + 200).toISOString(),
      fingerprint: null,
    },
  };
  (await engine.nextCall(1)).release(held);
  // The schedule ('0 0 1 1 *') is months away: only the hold's end can start this one.
  const second = await engine.nextCall(2);
  assert.deepEqual(starts, [['startup'], ['pause-over']]);
  assert.ok(lines.some((l) => /held: .*account default paused by the provider: sending quota reached: 550 5\.4\.5/.test(l)), lines.join('\n'));
  const ended = once(agent, 'flush-end');
  second.release(result('done'));
  await ended;
  await agent.stop('test');
});

test('a listener run by the agent nudges it in-process after each message it accepts, without the trigger socket', async () => {
  const listenerHome = await makeTempHome();
  try {
    await writeConfig(listenerHome.home, {
      smarthost: SMARTHOST,
      schedule: '0 0 1 1 *',
      listener: { enabled: true, host: '127.0.0.1', port: 0 },
    });
    const engine = gatedFlush();
    let accepted: unknown;
    const agent = new Agent({
      home: listenerHome.home,
      flush: engine.flush,
      nudgeDebounceMs: 0,
      watcher: { probe: async () => ({ smarthost: null, probes: [] }) },
      startListener: async (_home, onAccepted) => {
        accepted = onAccepted;
        return { host: '127.0.0.1', port: 2525, close: async () => {} };
      },
    });
    const nudges: unknown[] = [];
    agent.on('nudge', () => nudges.push(null));
    await agent.start();
    (await engine.nextCall(1)).release(result('done'));
    assert.equal(typeof accepted, 'function', "the listener is started with the agent's callback");

    // What the listener does after a message's 250: the call itself is the nudge.
    (accepted as () => void)();
    const second = await engine.nextCall(2);
    assert.equal(nudges.length, 1);
    const ended = once(agent, 'flush-end');
    second.release(result('done'));
    const [end] = await ended;
    assert.deepEqual(end.reasons, ['nudge']);
    await agent.stop('test');
  } finally {
    await listenerHome.cleanup();
  }
});

test("the agent command's listener calls the agent back after each message and never connects to the trigger socket", async () => {
  const listenerHome = await makeTempHome();
  const trigger = net.createServer((socket) => {
    triggerConnections++;
    socket.destroy();
  });
  let triggerConnections = 0;
  try {
    await writeConfig(listenerHome.home, { smarthost: SMARTHOST, listener: { enabled: true, host: '127.0.0.1', port: 0 } });
    const spool = await openSpool(listenerHome.home);
    // Something listens where a standalone listener would nudge: it must hear nothing.
    await new Promise<void>((resolve) => trigger.listen(triggerSocketPath(spool), resolve));
    let accepted = 0;
    const listener = await startAgentListener(listenerHome.home, () => accepted++);
    try {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: listener.port, secure: false, ignoreTLS: true });
      for (let i = 0; i < 2; i++) {
        await transport.sendMail({ envelope: { from: 'list@example.test', to: [`m${i}@example.test`] }, raw: `Subject: ${i}\r\n\r\nhello\r\n` });
      }
      transport.close();
    } finally {
      await listener.close();
    }
    assert.equal(accepted, 2, 'one call back per accepted message');
    assert.equal(triggerConnections, 0, 'no nudge through the trigger socket');
    assert.equal((await listStateFileIdsIncludingFinished(spool)).length, 2);
  } finally {
    await new Promise((resolve) => trigger.close(resolve));
    await listenerHome.cleanup();
  }
});
