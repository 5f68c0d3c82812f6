/**
 * Scale benchmark (issue 10): a spool of N entries x R recipients, and what
 * a user meets at that size:
 *
 *   - enqueue rate (in-process, as the library API and the listener do),
 *     over the first fifth and over the whole run;
 *   - bytes on disk per entry (message + state + directories, du -sb);
 *   - `bulkmailer status`: time and peak memory (PSS and RSS);
 *   - `bulkmailer flush` to a loopback sink (bench/smtp-sink.ts, its own
 *     process): planning time (until its first "delivering" line), time to
 *     the first delivery (the delivery log's first line), drain rate, CPU
 *     seconds (user + system, from /proc: unlike the rate, hardly moved by
 *     the machine's load) and peak memory.
 *
 * Memory is sampled from /proc/PID/smaps_rollup every 20 ms (PSS: the
 * process's share of the pages it maps, what a user pays for it; shared
 * libraries count for their share only), its anonymous part (Pss_Anon:
 * heap, stacks, malloc; Node's binary and ICU, ~43 MiB of file pages, are
 * divided among every Node process the machine runs, so the total PSS is
 * lower on a busy machine and the anonymous part is the one to compare
 * across machines), and VmHWM (peak RSS) at exit.
 * Linux only.
 *
 *   BENCH_DIR=/work/tmp npm run bench:scale -- --entries 100000 --recipients 5
 *   ... --variant 'semi1=--max-semi-space-size=1'   # also flush a copy with these Node options
 *   ... --variant 'A1=bin=/other/checkout/bin/bulkmailer' --variant 'B1=bin=bin/bulkmailer' --variant 'A2=...'
 *                         # builds alternating on copies of one spool
 *   ... --fill-unsynced   # write the entries' files directly, without fsyncs (seconds instead of
 *                         # minutes at 100,000): for the status and flush figures; no enqueue rate
 *
 * The machine is shared: rates are noisy (compare within one run of this
 * script, or medians of several); memory figures are not load-sensitive.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { enqueueMessage, messagePath, statePath, type Spool } from '../src/spool/index.js';
import { newQueueId } from '../src/model/queue-id.js';
import { newEntryState, serializeEntryState } from '../src/model/entry-state.js';
import { benchBody, makeBenchHome, startSinkProcess } from './sink-process.js';
import { SPOOL_CONTENT, benchArgs, flag, list, num } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = benchArgs('BENCH_DIR=/work/tmp npm run bench:scale -- [options]', {
  entries: num(100000, 'entries in the spool'),
  ...SPOOL_CONTENT,
  'keep-home': flag('keep the spool afterwards (its path is printed)'),
  'fill-unsynced': flag('write the entries directly, without fsyncs or the commit protocol (no enqueue rate)'),
  variant: list('NAME=[bin=PATH] NODE_OPTIONS: also flush a copy of the spool with these Node options, or with the build at PATH (another checkout\'s bin/bulkmailer), before the plain flush'),
});
const { entries, recipients } = args;

interface Measured {
  code: number | null;
  ms: number;
  peakPssKb: number;
  /** The anonymous part of the PSS at its peak: what no other process shares (see below). */
  peakAnonKb: number;
  peakRssKb: number;
  /** ms from start to the first stdout line matching `mark`, or null. */
  markMs: number | null;
  /** ms from start until the file `grows` first grew, or null. */
  grewMs: number | null;
  /** User + system CPU seconds of the process, as last sampled before it exited. */
  cpuSeconds: number;
  stdout: string;
}

/** Runs a bulkmailer command, sampling its PSS, timing it, and noting when stdout first matches `mark`. */
async function measure(
  args: string[],
  home: string,
  mark?: RegExp,
  grows?: string,
  nodeFlags: string[] = [],
  bin = path.join(root, 'bin', 'bulkmailer'),
): Promise<Measured> {
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeFlags, bin, ...args], {
    env: { ...process.env, BULKMAILER_HOME: home },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  let markMs: number | null = null;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    if (mark !== undefined && markMs === null && mark.test(stdout)) markMs = performance.now() - started;
  });
  let peakPssKb = 0;
  let peakAnonKb = 0;
  let peakRssKb = 0;
  let grewMs: number | null = null;
  let cpuSeconds = 0;
  const sizeOf = (file: string) => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const initialSize = grows === undefined ? 0 : sizeOf(grows);
  const sample = () => {
    if (grows !== undefined && grewMs === null && sizeOf(grows) > initialSize) grewMs = performance.now() - started;
    try {
      // utime and stime, in clock ticks (100 per second on Linux), after the command name's closing parenthesis.
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
      const rollup = readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8');
      peakPssKb = Math.max(peakPssKb, Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0));
      peakAnonKb = Math.max(peakAnonKb, Number(/^Pss_Anon:\s+(\d+)/m.exec(rollup)?.[1] ?? 0));
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakRssKb = Math.max(peakRssKb, Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0));
    } catch {
      // Gone between two samples.
    }
  };
  const timer = setInterval(sample, 20);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(timer);
  return { code, ms: performance.now() - started, peakPssKb, peakAnonKb, peakRssKb, markMs, grewMs, cpuSeconds, stdout };
}

/**
 * One entry as the enqueue leaves it (same files, same state), written
 * without its fsyncs: the figures after the fill (status, flush) do not
 * depend on how the entries got there, and 100,000 enqueues with their
 * fsyncs take many minutes on a busy disk.
 */
function writeEntryUnsynced(spool: Spool, now: number, rcpts: string[], body: string, made: Set<string>): void {
  const id = newQueueId(now);
  for (const file of [messagePath(spool, id), statePath(spool, id)]) {
    const dir = path.dirname(file);
    if (made.has(dir)) continue;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    made.add(dir);
  }
  const size = Buffer.byteLength(body);
  const state = newEntryState({ id, from: 'list@example.org', recipients: rcpts, now, size, subject: null, messageId: null });
  writeFileSync(messagePath(spool, id), body, { mode: 0o600 });
  writeFileSync(statePath(spool, id), serializeEntryState(state), { mode: 0o600 });
}

const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

const sink = await startSinkProcess();
const bench = await makeBenchHome('scale', { smarthost: `smtp://127.0.0.1:${sink.port}`, concurrency: args.concurrency });
const { home, spool } = bench;
try {
  const fifth = Math.max(1, Math.floor(entries / 5));
  let fifthMs = 0;
  const enqueueStart = performance.now();
  const made = new Set<string>();
  const first = Date.now() - entries;
  for (let i = 0; i < entries; i++) {
    const rcpts = Array.from({ length: recipients }, (_, r) => `member${i % 500}-${r}@d${r}.example.net`);
    if (args['fill-unsynced']) writeEntryUnsynced(spool, first + i, rcpts, benchBody(args.size, i), made);
    else await enqueueMessage(spool, { from: 'list@example.org', recipients: rcpts, message: benchBody(args.size, i) });
    if (i + 1 === fifth) fifthMs = performance.now() - enqueueStart;
  }
  const enqueueMs = performance.now() - enqueueStart;
  const bytes = Number(execFileSync('du', ['-sb', path.join(home, 'spool')], { encoding: 'utf8' }).split('\t')[0]);
  const rate = args['fill-unsynced']
    ? `filled without fsyncs (no enqueue rate)`
    : `${(fifth / (fifthMs / 1000)).toFixed(0)} msg/s over the first ${fifth}, ${(entries / (enqueueMs / 1000)).toFixed(0)} msg/s over all ${entries}`;
  console.log(`enqueue: ${rate}; ${(bytes / entries).toFixed(0)} bytes on disk per entry (${args.size}-byte body, ${recipients} recipients)`);
  execFileSync('sync');

  const status = await measure(['status'], home);
  console.log(`status: exit ${status.code}, ${status.ms.toFixed(0)} ms, peak PSS ${mib(status.peakPssKb)}, peak RSS ${mib(status.peakRssKb)}`);

  // Each variant flushes a copy of the spool (made while no flusher runs) to a sink of its own.
  for (const spec of args.variant ?? []) {
    const at = spec.indexOf('=');
    const name = at < 0 ? spec : spec.slice(0, at);
    const copy = `${home}-${name.replace(/\W/g, '_')}`;
    execFileSync('cp', ['-a', home, copy]);
    const variantSink = await startSinkProcess();
    const config = JSON.parse(readFileSync(path.join(copy, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(copy, 'config.json'), JSON.stringify({ ...config, smarthost: `smtp://127.0.0.1:${variantSink.port}` }), { mode: 0o600 });
    execFileSync('sync');
    const options = at < 0 ? [] : spec.slice(at + 1).split(/\s+/).filter((f) => f !== '');
    const bin = options.find((f) => f.startsWith('bin='))?.slice(4);
    const nodeFlags = options.filter((f) => !f.startsWith('bin='));
    try {
      const run = await measure(['flush'], copy, /delivering/, path.join(copy, 'log', 'deliveries.jsonl'), nodeFlags, bin && path.resolve(bin));
      const got = await variantSink.stop();
      console.log(
        `flush (${name}: ${options.join(' ')}): exit ${run.code}, planning ${run.markMs?.toFixed(0) ?? '?'} ms, ` +
          `first delivery at ${run.grewMs?.toFixed(0) ?? '?'} ms, ${(entries / (run.ms / 1000)).toFixed(0)} msg/s, ` +
          `${run.cpuSeconds.toFixed(1)} CPU s; peak PSS ${mib(run.peakPssKb)} (anonymous ${mib(run.peakAnonKb)}); sink: ${got.messages} messages`,
      );
    } finally {
      await fs.rm(copy, { recursive: true, force: true });
    }
  }

  const flush = await measure(['flush'], home, /delivering/, path.join(home, 'log', 'deliveries.jsonl'));
  const counts = await sink.stop();
  console.log(
    `flush: exit ${flush.code}, planning ${flush.markMs?.toFixed(0) ?? '?'} ms, first delivery at ${flush.grewMs?.toFixed(0) ?? '?'} ms, ` +
      `${flush.ms.toFixed(0)} ms in all => ` +
      `${(entries / (flush.ms / 1000)).toFixed(0)} msg/s, ${flush.cpuSeconds.toFixed(1)} CPU s; peak PSS ${mib(flush.peakPssKb)} (anonymous ${mib(flush.peakAnonKb)}), peak RSS ${mib(flush.peakRssKb)}; ` +
      `sink: ${counts.messages} messages, ${counts.recipients} recipients, ${counts.connections} connections ` +
      `(node ${process.version})`,
  );
} finally {
  if (args['keep-home']) console.log(`spool kept in ${home}`);
  else await bench.remove();
}
