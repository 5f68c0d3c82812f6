/**
 * SIGHUP (Agent.reload) and the agent's own listener: a listener that could
 * not start (its port was taken) is tried again on reload even when the
 * listener settings did not change, as docs/agent.md promises ("SIGHUP
 * tries again"); a reload racing stop(), or another reload, leaves no
 * listener running that nobody will close.
 * In-process, with a fake flush engine; only 127.0.0.1 is contacted.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { emptyFlushResult, type FlushResult } from '../../src/flush/flush-events.js';
import { Agent, type ListenerEvent } from '../../src/agent/agent.js';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';

// Never contacted: the flush is a fake.
const SMARTHOST = 'smtp://127.0.0.1:9';
let home: TempHome;

before(async () => {
  home = await makeTempHome();
});
after(() => home.cleanup());

function done(): FlushResult {
  return { ...emptyFlushResult('done', performance.now()), durationMs: 1 };
}

async function listenOnFreePort(): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Reads the first line a server at `port` sends, or the connection error code. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => finish('timeout'), 5_000);
    const finish = (what: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) finish(text.split(/\r?\n/)[0]!);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('close', () => finish(text === '' ? 'closed' : text));
  });
}

test('a listener that could not start is started by the next reload (settings unchanged)', async () => {
  const blocker = await listenOnFreePort();
  const port = (blocker.address() as net.AddressInfo).port;
  await writeConfig(home.home, {
    smarthost: SMARTHOST,
    schedule: '0 0 1 1 *',
    listener: { enabled: true, host: '127.0.0.1', port },
  });
  const seen: ListenerEvent[] = [];
  const agent = new Agent({ home: home.home, flush: async () => done(), startListener: (h) => startListener({ home: h }) });
  agent.on('listener', (e) => seen.push(e));
  try {
    assert.deepEqual(await agent.start(), { started: true });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.state, 'failed');
    assert.match(seen[0]!.state === 'failed' ? seen[0]!.error : '', /EADDRINUSE/);
    await new Promise<void>((resolve) => blocker.close(() => resolve()));

    await agent.reload(); // what SIGHUP does
    assert.deepEqual(seen.slice(1), [{ state: 'listening', host: '127.0.0.1', port }]);
    assert.match(await greeting(port), /^220 /);
  } finally {
    await agent.stop('test');
  }
  assert.notEqual(await greeting(port), 'timeout');
  assert.doesNotMatch(await greeting(port), /^220 /, 'nothing listens after stop');
});

test('a listener that finishes starting after stop() is closed, not leaked', async () => {
  await writeConfig(home.home, { smarthost: SMARTHOST, schedule: '0 0 1 1 *' });
  const gate: { open: (() => void) | null } = { open: null };
  const closed: string[] = [];
  const agent = new Agent({
    home: home.home,
    flush: async () => done(),
    // A listener whose start takes a while (import, spool, bind), under the test's control.
    startListener: async () => {
      await new Promise<void>((resolve) => (gate.open = resolve));
      return { host: '127.0.0.1', port: 1, close: async () => void closed.push('closed') };
    },
  });
  assert.deepEqual(await agent.start(), { started: true });
  // The user enables the listener and sends SIGHUP; SIGTERM follows at once.
  await writeConfig(home.home, { smarthost: SMARTHOST, schedule: '0 0 1 1 *', listener: { enabled: true, host: '127.0.0.1', port: 0 } });
  const reloading = agent.reload();
  while (gate.open === null) await new Promise((resolve) => setImmediate(resolve));
  await agent.stop('test');
  gate.open();
  await reloading;
  assert.deepEqual(closed, ['closed'], 'the listener started for the reload was closed');
});

test('two reloads at once start one listener', async () => {
  await writeConfig(home.home, { smarthost: SMARTHOST, schedule: '0 0 1 1 *' });
  const started: number[] = [];
  const open = new Set<number>();
  const agent = new Agent({
    home: home.home,
    flush: async () => done(),
    startListener: async () => {
      const n = started.length + 1;
      started.push(n);
      await new Promise((resolve) => setImmediate(resolve));
      open.add(n);
      return { host: '127.0.0.1', port: n, close: async () => void open.delete(n) };
    },
  });
  assert.deepEqual(await agent.start(), { started: true });
  await writeConfig(home.home, { smarthost: SMARTHOST, schedule: '0 0 1 1 *', listener: { enabled: true, host: '127.0.0.1', port: 0 } });
  await Promise.all([agent.reload(), agent.reload()]);
  assert.equal(open.size, 1, `listeners running: ${[...open].join(', ')}`);
  await agent.stop('test');
  assert.equal(open.size, 0, 'stop closed it');
});
