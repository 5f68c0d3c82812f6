/**
 * Drain CPU benchmark: the user+system CPU seconds of one `bulkmailer flush`
 * process draining the same spool content (copied from one template for
 * every run) to a loopback sink. CPU time rather than wall time: on a
 * shared, loaded machine the wall-clock rate is mostly other people's work.
 *
 * Several builds can be compared in one session, runs alternating between
 * them (each build is a path to a bin/bulkmailer, e.g. a copy of the main
 * checkout's bin/ and dist/):
 *
 *   npx tsx bench/drain-cpu.ts --messages 2000 --recipients 5 --runs 5 \
 *     --bin before=/tmp/base/bin/bulkmailer --bin after=bin/bulkmailer
 *
 * A build may carry Node options for its flush process after its path,
 * e.g. `--bin 'small=bin/bulkmailer --max-semi-space-size=1'`.
 *
 * Prints per-run figures (with the flush's drain rate, start-up included,
 * the time from the flush's spawn to the sink's first and last message (the
 * last as the peer harness times a drain), and peak PSS, sampled from /proc/PID/smaps_rollup every 20 ms) and, per
 * build, the median CPU per message, rate and peak PSS and their spread
 * (min-max). Fails when a flush
 * leaves anything in the spool.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { openSpool, enqueueMessage, removeEntryLockTarget } from '../src/spool/index.js';
import { benchBody, startSinkProcess } from './sink-process.js';
import { SPOOL_CONTENT, benchArgs, list, num } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = benchArgs('npx tsx bench/drain-cpu.ts [options]', {
  messages: num(2000, 'messages in the spool'),
  ...SPOOL_CONTENT,
  concurrency: num(undefined, "sessions (default: the config's)"),
  runs: num(5, 'runs per build'),
  bin: list('NAME=PATH of a bin/bulkmailer to compare, repeatable (default: current=bin/bulkmailer)'),
});
const { messages, recipients, runs } = args;
const bins = (args.bin.length > 0 ? args.bin : [`current=${path.join(root, 'bin', 'bulkmailer')}`]).map((spec) => {
  const at = spec.indexOf('=');
  const [bin, ...nodeFlags] = (at < 0 ? spec : spec.slice(at + 1)).split(/\s+/);
  return { name: at < 0 ? spec : spec.slice(0, at), bin: path.resolve(bin!), nodeFlags };
});

const base = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-cpu-'));
const template = path.join(base, 'template');

async function makeTemplate() {
  await fs.mkdir(template, { mode: 0o700 });
  const spool = await openSpool(template);
  for (let i = 0; i < messages; i++) {
    const rcpts = Array.from({ length: recipients }, (_, r) => `member${i % 500}-${r}@d${r}.example.net`);
    await enqueueMessage(spool, { from: 'list@example.org', recipients: rcpts, message: benchBody(args.size, i) });
  }
  removeEntryLockTarget(template);
  await fs.rm(path.join(template, 'spool', 'lock', 'entries'), { force: true, recursive: true });
}

/** The peak PSS (KiB) of the process `time` runs, sampled until `done` resolves. */
function samplePss(timePid: number, done: Promise<unknown>): Promise<number> {
  let peak = 0;
  const sample = () => {
    try {
      const pid = readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim().split(' ')[0];
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      peak = Math.max(peak, Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0));
    } catch {
      // Not started yet, or gone between two samples.
    }
  };
  const timer = setInterval(sample, 20);
  return done.then(() => (clearInterval(timer), peak));
}

/** One flush of a fresh copy of the template: its CPU seconds (user, system), wall seconds and peak PSS (KiB). */
async function oneRun(
  bin: string,
  nodeFlags: string[],
  home: string,
): Promise<{ user: number; sys: number; wall: number; first: number; last: number; pssKb: number }> {
  const sink = await startSinkProcess();
  try {
    execFileSync('cp', ['-a', template, home]);
    const config: Record<string, unknown> = { smarthost: `smtp://127.0.0.1:${sink.port}` };
    if (args.concurrency !== undefined) config.concurrency = args.concurrency;
    await fs.writeFile(path.join(home, 'config.json'), JSON.stringify(config), { mode: 0o600 });
    execFileSync('sync');
    // PROFILE_DIR: also write a V8 CPU profile of each flush there (node --cpu-prof).
    const profile = process.env.PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROFILE_DIR] : [];
    const started = performance.now();
    const startedAt = performance.timeOrigin + started;
    const child = spawn('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, ...nodeFlags, ...profile, bin, 'flush', '--quiet'], {
      env: { ...process.env, BULKMAILER_HOME: home },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = once(child, 'exit') as Promise<[number]>;
    const pssKb = await samplePss(child.pid!, exited);
    const [code] = await exited;
    const wall = (performance.now() - started) / 1000;
    const counts = await sink.stop();
    const m = /CPU ([\d.]+) ([\d.]+)/.exec(err);
    const left = (await fs.readdir(path.join(home, 'spool', 'state', '0'))).length;
    if (code !== 0 || m === null || left > 0 || counts.messages !== messages) {
      throw new Error(`flush exit ${code}, ${counts.messages} messages at the sink, ${left} entries left: ${err}`);
    }
    // As the peer harness times a drain: from just before the flush command to the sink's last message.
    const first = (counts.firstAt! - startedAt) / 1000;
    const last = (counts.lastAt! - startedAt) / 1000;
    return { user: Number(m[1]), sys: Number(m[2]), wall, first, last, pssKb };
  } finally {
    removeEntryLockTarget(home);
    await fs.rm(home, { recursive: true, force: true });
  }
}

try {
  await makeTemplate();
  const results = new Map<string, { cpu: number[]; rate: number[]; last: number[]; pss: number[] }>(
    bins.map((b) => [b.name, { cpu: [], rate: [], last: [], pss: [] }]),
  );
  for (let run = 1; run <= runs; run++) {
    for (const { name, bin, nodeFlags } of run % 2 === 1 ? bins : [...bins].reverse()) {
      const { user, sys, wall, first, last, pssKb } = await oneRun(bin, nodeFlags, path.join(base, `run-${name}-${run}`));
      const perMessage = ((user + sys) / messages) * 1000;
      results.get(name)!.cpu.push(perMessage);
      results.get(name)!.rate.push(messages / wall);
      results.get(name)!.last.push(last * 1000);
      results.get(name)!.pss.push(pssKb / 1024);
      const load = os.loadavg()[0]!.toFixed(1);
      console.log(
        `run ${run} ${name}: user ${user.toFixed(2)} s, sys ${sys.toFixed(2)} s => ${perMessage.toFixed(3)} ms CPU/message, ` +
          `${(messages / wall).toFixed(0)} msg/s (start-up included), first / last delivery at ${(first * 1000).toFixed(0)} / ${(last * 1000).toFixed(0)} ms, ` +
          `peak PSS ${(pssKb / 1024).toFixed(0)} MiB (load ${load})`,
      );
    }
  }
  const spread = (list: number[], digits: number) => {
    const sorted = [...list].sort((a, b) => a - b);
    return `median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(digits)}, spread ${sorted[0]!.toFixed(digits)}-${sorted[sorted.length - 1]!.toFixed(digits)}`;
  };
  for (const [name, { cpu, rate, last, pss }] of results) {
    console.log(
      `${name}: ${spread(cpu, 3)} ms CPU/message; ${spread(rate, 0)} msg/s; last delivery ${spread(last, 0)} ms; peak PSS ${spread(pss, 0)} MiB ` +
        `(${messages} x ${recipients}, ${runs} runs, node ${process.version})`,
    );
  }
} finally {
  await fs.rm(base, { recursive: true, force: true });
}
