/**
 * What the listener's per-message work leaves in V8's old generation: the
 * objects of a message must die young. A long-lived Map or Set that has an
 * entry added and deleted (or is cleared) for every message reallocates its
 * table every few messages, and V8 links each replaced table to the next;
 * once one of them is in the old generation, every later table, with
 * whatever its entries held (keys, promises, waiters), outlives the
 * young-generation collections and is promoted, for the next full
 * collection to find. Over 20,000 messages that was most of the listener's
 * old-generation growth (~1.4 KB per message promoted, ~0.4 KB after;
 * docs/performance.md, "The listener's promotions").
 *
 * Each case runs in its own Node process (--expose-gc; --jitless, because
 * what the compilers keep for code they finish during the measured window
 * lands in the old space too, and when they finish depends on the machine's
 * load: the kept directory handles' case measured 61 bytes once in CI
 * under the full suite; the built dist/ as
 * the other heap tests use): the long-lived object is made and warmed up,
 * two full collections put it in the old generation, then OPERATIONS
 * operations run with a young-generation collection every few of them, and
 * the process reports how much the old generation grew per operation. The
 * control is that mechanism on purpose (a long-lived Set cleared and
 * refilled per operation, as the intake's recipient keys were) and must
 * show it on this Node. The bound is a fraction of what each piece
 * promoted before its change (measured on Node 20: the control ~300 bytes
 * per operation, the fsync runs ~150, the kept directory handles ~60, the
 * transactions in flight ~40, an SMTP transaction ~700; after: 0-20).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, collect } from '../support/cli.js';

const OPERATIONS = 3000;
/** Operations between two young-generation collections: each operation's own objects are dead by then. */
const PER_SCAVENGE = 25;

function moduleUrl(...parts: string[]): string {
  return pathToFileURL(path.join(ROOT, 'dist', ...parts)).href;
}

/**
 * The child's script: `setup` (statements, may await) defines `operation(i)`
 * (async); the harness warms it up, promotes what it made, and measures.
 */
function script(setup: string): string {
  return `
    import v8 from 'node:v8';
    const oldBytes = () => v8.getHeapSpaceStatistics()
      .filter((s) => s.space_name === 'old_space')
      .reduce((sum, s) => sum + s.space_used_size, 0);
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    let operation;
    ${setup}
    // The old space's growth per operation (not the code space: the optimizing compiler's code). The
    // forced collections promote a little of their own (whatever of the loop is alive at two of them
    // in a row): measured with an operation that only waits, and subtracted.
    const growth = async (op) => {
      for (let i = 0; i < 1000; i++) await op(i);
      globalThis.gc();
      globalThis.gc();
      const before = oldBytes();
      for (let i = 0; i < ${OPERATIONS}; i++) {
        await op(i);
        if (i % ${PER_SCAVENGE} === ${PER_SCAVENGE - 1}) globalThis.gc({ type: 'minor' });
      }
      return (oldBytes() - before) / ${OPERATIONS};
    };
    const harness = await growth(async () => { await tick(); });
    const measured = await growth(operation);
    // Exits once written: an operation's sockets or timers may still be open.
    process.stdout.write(JSON.stringify({ perOperation: measured - harness, harness }), () => process.exit(0));
  `;
}

/** Old-space bytes per operation beyond the harness's own; DEBUG_PROMOTIONS=1 prints them. */
async function promotedPerOperation(setup: string): Promise<number> {
  const child = spawn(process.execPath, ['--expose-gc', '--jitless', '--input-type=module', '-e', script(setup)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { perOperation: number; harness: number };
  if (process.env.DEBUG_PROMOTIONS) console.error(report);
  return report.perOperation;
}

const bytes = (n: number) => `${n.toFixed(0)} bytes`;

test('the control: a long-lived Set cleared and refilled per operation promotes its tables and keys', async () => {
  const promoted = await promotedPerOperation(`
    const holder = { keys: new Set() };
    operation = async (i) => {
      holder.keys.clear();
      for (let r = 0; r < 5; r++) holder.keys.add(('recipient-' + i + '-' + r + '@example.test').toLowerCase());
      await tick();
    };
  `);
  assert.ok(promoted > 120, `${bytes(promoted)} promoted per operation: the measure does not see the tables' chain on this Node`);
});

test('shared fsync runs (shared-runs.ts) promote nothing per run', async () => {
  const promoted = await promotedPerOperation(`
    const { SharedRuns } = await import(${JSON.stringify(moduleUrl('spool', 'shared-runs.js'))});
    const runs = new SharedRuns(async () => { await tick(); });
    // Three directories, two callers each: one run starts, the other caller shares the next.
    operation = (i) => Promise.all([runs.run('dir' + (i % 3)), runs.run('dir' + (i % 3)), runs.run('dir' + ((i + 1) % 3))]);
  `);
  assert.ok(promoted < 30, `${bytes(promoted)} promoted per run`);
});

test('kept directory handles (dir-handles.ts) promote nothing per fsync', async () => {
  const promoted = await promotedPerOperation(`
    import('node:fs');
    const { DirHandles } = await import(${JSON.stringify(moduleUrl('spool', 'dir-handles.js'))});
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkmailer-promotions-'));
    const dirs = [0, 1, 2, 3].map((n) => { const dir = path.join(root, 'd' + n); fs.mkdirSync(dir); return dir; });
    process.on('exit', () => { handles.release(); fs.rmSync(root, { recursive: true, force: true }); });
    const handles = new DirHandles(64, async () => { await tick(); });
    operation = (i) => Promise.all([handles.fsyncDir(dirs[i % 4]), handles.fsyncDir(dirs[(i + 1) % 4])]);
  `);
  assert.ok(promoted < 30, `${bytes(promoted)} promoted per fsync`);
});

test("the listener's transactions in flight (in-flight.ts) promote nothing per transaction", async () => {
  const promoted = await promotedPerOperation(`
    const { InFlight } = await import(${JSON.stringify(moduleUrl('frontends', 'listener', 'in-flight.js'))});
    const inFlight = new InFlight();
    operation = async (i) => {
      const transaction = tick().then(() => ({ code: 250, text: 'Ok: queued as ' + i }));
      inFlight.track(transaction);
      await transaction;
    };
  `);
  assert.ok(promoted < 80, `${bytes(promoted)} promoted per transaction`);
});

test('an SMTP transaction of the intake (MAIL, five RCPT, DATA) promotes nothing', async () => {
  const promoted = await promotedPerOperation(`
    const net = await import('node:net');
    const { IntakeServer } = await import(${JSON.stringify(moduleUrl('frontends', 'smtp-intake', 'intake-server.js'))});
    const server = new IntakeServer({ name: 'test', banner: 'ready', maxMessageSize: 1 << 20, tls: null, auth: false }, {
      onMailFrom: () => null,
      onRcptTo: () => null,
      async onData(message) {
        let size = 0;
        for await (const piece of message) size += piece.length;
        await tick();
        return { code: 250, text: 'Ok: ' + size };
      },
    });
    server.server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.server.once('listening', resolve));
    const client = net.connect(server.server.address().port, '127.0.0.1');
    client.setEncoding('latin1');
    let replies = '';
    let waiting = null;
    client.on('data', (text) => { replies += text; if (waiting !== null) waiting(); });
    // Resolves once the replies so far end in a reply with this code (its last line).
    const reply = async (code) => {
      while (!new RegExp('(^|\\\\n)' + code + ' [^\\\\n]*\\\\r\\\\n$').test(replies)) await new Promise((resolve) => (waiting = resolve));
      replies = '';
    };
    await reply(220);
    client.write('EHLO client.test\\r\\n');
    await reply(250);
    const body = 'Subject: a test\\r\\n\\r\\n' + 'line of the body\\r\\n'.repeat(200);
    operation = async (i) => {
      client.write('MAIL FROM:<sender-' + i + '@example.test>\\r\\n');
      await reply(250);
      for (let r = 0; r < 5; r++) {
        client.write('RCPT TO:<recipient-' + i + '-' + r + '@example.test>\\r\\n');
        await reply(250);
      }
      client.write('DATA\\r\\n');
      await reply(354);
      client.write(body + '.\\r\\n');
      await reply(250);
    };
  `);
  assert.ok(promoted < 300, `${bytes(promoted)} promoted per transaction`);
});
