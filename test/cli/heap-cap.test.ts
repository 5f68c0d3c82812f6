/**
 * src/cli/heap-cap.ts: the young generation held at its cap at run time.
 * Each process here runs test/support/young-generation-probe.mjs, which,
 * once the process's own work is done, allocates objects that survive a
 * few scavenges and reports the largest semi-space V8 scavenged with. The
 * same load grows it to 16 MiB or more without the cap (the controls: a
 * plain Node process, and `status`, a short command that leaves the heap
 * alone), and keeps it at SEMI_SPACE_CAP_BYTES in the long-running
 * commands (flush, listen, agent). The old generation's headroom: a plain
 * Node process with a large live set and promoted garbage holds a smaller
 * old space with the cap than without. It also fails when CI's Node
 * versions leave heap-cap.ts's checked V8 versions (the cap would then be
 * off).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, collect, spawnCli, untilListening } from '../support/cli.js';
import type { TempHome } from '../support/home.js';
import { agentTestHome, startAgent } from '../agent/agent-process.js';
import { heapCapSupported } from '../../src/cli/heap-cap.js';
import { SEMI_SPACE_CAP_BYTES, YOUNG_GENERATION_CAPS } from '../../src/cli/long-running.js';

const PROBE = fileURLToPath(new URL('../support/young-generation-probe.mjs', import.meta.url));
const HEAP_CAP_MODULE = pathToFileURL(path.join(ROOT, 'dist', 'cli', 'heap-cap.js')).href;

let home: TempHome;
let reports = 0;

agentTestHome((h) => {
  home = h;
});

/** Where the probe of the next process writes (its own file per process). */
function reportFile(): string {
  return path.join(home.home, `heap-${++reports}.json`);
}

async function largestSemiSpace(file: string): Promise<number> {
  const report = JSON.parse(await fs.readFile(file, 'utf8')) as { largestSemiSpaceBytes: number; scavenges: number };
  assert.ok(report.scavenges > 0, `the probe saw no scavenge: ${JSON.stringify(report)}`);
  return report.largestSemiSpaceBytes;
}

/** Runs a script under plain Node with the probe preloaded; resolves with the largest semi-space. */
async function plainNode(script: string): Promise<number> {
  const file = reportFile();
  const child = spawn(process.execPath, ['--import', PROBE, '--input-type=module', '-e', script], {
    env: { ...process.env, BULKMAILER_TEST_HEAP_FILE: file },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  return largestSemiSpace(file);
}

/** A bulkmailer command with the probe preloaded (through NODE_OPTIONS, as the command itself is unchanged). */
function probedCli(args: string[], file: string): ChildProcess {
  return spawnCli(args, { home: home.home, env: { NODE_OPTIONS: `--import=${PROBE}`, BULKMAILER_TEST_HEAP_FILE: file } });
}

/** For a command that runs until stopped: the probe runs at SIGUSR2 while it is up; resolves once it has reported. */
async function probeWhileUp(child: ChildProcess, file: string): Promise<number> {
  child.kill('SIGUSR2');
  while (!(await fs.stat(file).catch(() => null))) {
    assert.equal(child.exitCode, null, 'the command exited before the probe reported');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return largestSemiSpace(file);
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

test('this Node is one heap-cap.ts was checked on (else the cap is off everywhere)', () => {
  assert.ok(heapCapSupported(), `V8 ${process.versions.v8} (Node ${process.version}): check the flags on it and add it to CHECKED_V8_MAJORS`);
  assert.equal(heapCapSupported('10.2.154'), false);
  assert.equal(heapCapSupported('99.0.1'), false);
});

describe('capHeap in a plain Node process', () => {
  test('the same load grows the semi-space past the cap without it, and not with it', async () => {
    const without = await plainNode('');
    const capped = await plainNode(`const { capHeap } = await import(${JSON.stringify(HEAP_CAP_MODULE)}); if (!capHeap()) process.exit(3);`);
    assert.ok(without > SEMI_SPACE_CAP_BYTES, `without the cap: ${mib(without)}, expected above ${mib(SEMI_SPACE_CAP_BYTES)}`);
    assert.ok(capped <= SEMI_SPACE_CAP_BYTES, `with the cap: ${mib(capped)}, expected at most ${mib(SEMI_SPACE_CAP_BYTES)}`);
  });
});

/**
 * A live set of ~200,000 objects in the old generation, a hundredth of it
 * replaced per callback (promoted garbage, as the flush's states are):
 * prints the largest old space V8 held.
 */
const OLD_GENERATION_LOAD = `
  import v8 from 'node:v8';
  const live = [];
  let largest = 0;
  for (let round = 0; round < 3000; round++) {
    for (let i = 0; i < 2000; i++) live[(round * 2000 + i) % 200000] = { round, i, text: 'state ' + round + ' ' + i, pair: [i, round] };
    if (round % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
    largest = Math.max(largest, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_size);
  }
  console.log(largest);
`;

async function largestOldSpace(capped: boolean): Promise<number> {
  const cap = capped ? `const { capHeap } = await import(${JSON.stringify(HEAP_CAP_MODULE)}); if (!capHeap()) process.exit(3);` : '';
  const child = spawn(process.execPath, ['--input-type=module', '-e', cap + OLD_GENERATION_LOAD], { stdio: ['pipe', 'pipe', 'pipe'] });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  return Number(result.stdout.trim());
}

describe('capHeap, the old generation', () => {
  test('the same live set and garbage take less old space with it than without', async () => {
    const without = await largestOldSpace(false);
    const capped = await largestOldSpace(true);
    // Measured (50% headroom): 195 / 96 MiB on Node 20, 211 / 110 on 22, 204 / 116 on 24.
    assert.ok(capped < (without * 3) / 4, `old space: ${mib(capped)} with the cap, ${mib(without)} without`);
  });
});

/**
 * In a process with --expose-gc: grows the young generation under a load of
 * short callbacks, then forces 400 scavenges with next to nothing
 * allocated between them and prints the old space's growth per scavenge.
 * `setup` runs first (the cap, an observer, or nothing).
 */
const SCAVENGE_LOAD = `
  import v8 from 'node:v8';
  const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  let kept = [];
  for (let round = 0; round < 300; round++) {
    for (let i = 0; i < 2000; i++) { kept.push({ i, text: 'x' + i }); if (kept.length > 20000) kept = kept.slice(10000); }
    await tick();
  }
  kept = null;
  globalThis.gc();
  globalThis.gc();
  const before = oldSpace();
  for (let i = 0; i < 400; i++) { globalThis.gc({ type: 'minor' }); await tick(); }
  console.log((oldSpace() - before) / 400);
`;

async function oldSpacePerScavenge(setup: string): Promise<number> {
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', setup + SCAVENGE_LOAD], { stdio: ['pipe', 'pipe', 'pipe'] });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  return Number(result.stdout.trim());
}

describe('capHeap, at the cap', () => {
  test('observes no collection: the old generation does not grow per scavenge (a gc observer grows it by kilobytes)', async () => {
    // The control: while anyone observes 'gc' entries, Node makes one per collection, which ends up
    // in the old generation (measured 4.4 KB per scavenge on Node 20, 6 KB on 22 and 24).
    const observed = await oldSpacePerScavenge(`import { PerformanceObserver } from 'node:perf_hooks'; new PerformanceObserver(() => {}).observe({ entryTypes: ['gc'] });`);
    const capped = await oldSpacePerScavenge(`const { capHeap } = await import(${JSON.stringify(HEAP_CAP_MODULE)}); if (!capHeap(2 * 1024 * 1024)) process.exit(3);`);
    assert.ok(observed > 2048, `with a gc observer: ${observed.toFixed(0)} bytes per scavenge: the measure does not see it on this Node`);
    assert.ok(capped < 512, `capped: ${capped.toFixed(0)} bytes of old space per scavenge`);
  });

  test('after V8 shrinks the young generation (idle, full collections), it grows back to the cap under load', async () => {
    const script = `
      import v8 from 'node:v8';
      const semiSpace = () => { const s = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space'); return s.space_used_size + s.space_available_size; };
      const { capHeap } = await import(${JSON.stringify(HEAP_CAP_MODULE)});
      if (!capHeap(2 * 1024 * 1024)) process.exit(3);
      const tick = () => new Promise((resolve) => setImmediate(resolve));
      const load = async () => {
        let kept = [];
        for (let round = 0; round < 300; round++) {
          for (let i = 0; i < 2000; i++) { kept.push({ i, text: 'x' + i }); if (kept.length > 20000) kept = kept.slice(10000); }
          await tick();
        }
      };
      await load();
      const loaded = semiSpace();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      globalThis.gc();
      globalThis.gc();
      const idle = semiSpace();
      // More than the cap's check interval: the shrink is noticed, growth allowed again.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await load();
      console.log(JSON.stringify({ loaded, idle, reloaded: semiSpace() }));
    `;
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const result = await collect(child);
    assert.equal(result.code, 0, result.stderr);
    const { loaded, idle, reloaded } = JSON.parse(result.stdout) as { loaded: number; idle: number; reloaded: number };
    const cap = 2 * MIB;
    assert.ok(loaded > cap * 0.75 && loaded <= cap, `loaded: ${mib(loaded)}, expected the cap, ${mib(cap)}`);
    // V8 shrinks it here on Node 24 (to 1 MiB), not on 20 and 22.
    if (idle < cap * 0.75) assert.ok(reloaded > cap * 0.75, `shrunk to ${mib(idle)} when idle, ${mib(reloaded)} under load again: it did not grow back`);
    assert.ok(reloaded <= cap, `under load again: ${mib(reloaded)}, expected at most ${mib(cap)}`);
  });
});

describe('the long-running commands cap the heap, the short ones do not', () => {
  test('flush (an empty queue) does; status does not', async () => {
    const flushFile = reportFile();
    const flush = await collect(probedCli(['flush'], flushFile));
    assert.equal(flush.code, 0, flush.stderr);
    const statusFile = reportFile();
    const status = await collect(probedCli(['status'], statusFile));
    assert.equal(status.code, 0, status.stderr);
    const [flushed, listed] = [await largestSemiSpace(flushFile), await largestSemiSpace(statusFile)];
    assert.ok(flushed <= SEMI_SPACE_CAP_BYTES, `flush: ${mib(flushed)}, expected at most ${mib(SEMI_SPACE_CAP_BYTES)}`);
    assert.ok(listed > SEMI_SPACE_CAP_BYTES, `status: ${mib(listed)}, expected above ${mib(SEMI_SPACE_CAP_BYTES)}`);
  });

  test("listen does, at the listener's smaller cap", async () => {
    const file = reportFile();
    const child = probedCli(['listen', '--port', '0'], file);
    const result = collect(child);
    await untilListening(child, result);
    const largest = await probeWhileUp(child, file);
    child.kill('SIGTERM');
    await result;
    assert.ok(largest <= YOUNG_GENERATION_CAPS.listen, `listen: ${mib(largest)}, expected at most ${mib(YOUNG_GENERATION_CAPS.listen)}`);
  });

  test('agent does', async () => {
    const file = reportFile();
    const agent = startAgent(home.home, { NODE_OPTIONS: `--import=${PROBE}`, BULKMAILER_TEST_HEAP_FILE: file });
    await agent.waitFor('ready');
    const largest = await probeWhileUp(agent.child, file);
    await agent.stop('SIGTERM');
    assert.ok(largest <= SEMI_SPACE_CAP_BYTES, `agent: ${mib(largest)}, expected at most ${mib(SEMI_SPACE_CAP_BYTES)}`);
  });
});
