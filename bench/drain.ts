/**
 * Drain benchmark: spool N messages x R recipients, then time one
 * `bulkmailer flush` (the real bin/, a separate process) draining them to a
 * loopback SMTP sink (bench/smtp-sink.ts, another process). Repeats and
 * reports the median, since the machine is shared and noisy.
 *
 *   npm run bench -- --messages 2000 --recipients 5 --concurrency 20 --runs 3
 *
 * Compare with the figures in docs/performance.md (Postfix ~1,170 msg/s on
 * this kind of machine with 20 connections).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { enqueueMessage } from '../src/spool/index.js';
import { benchBody, makeBenchHome, startSinkProcess } from './sink-process.js';
import { SPOOL_CONTENT, benchArgs, num } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = benchArgs('npm run bench -- [options]', {
  messages: num(2000, 'messages in the spool'),
  ...SPOOL_CONTENT,
  runs: num(3, 'runs'),
});
const { messages, recipients, runs } = args;

async function oneRun(run: number) {
  const sink = await startSinkProcess();
  const bench = await makeBenchHome('bench', { smarthost: `smtp://127.0.0.1:${sink.port}`, concurrency: args.concurrency });
  const { home, spool } = bench;
  try {
    const enqueueStart = performance.now();
    for (let i = 0; i < messages; i++) {
      const rcpts = Array.from({ length: recipients }, (_, r) => `member${i % 500}-${r}@d${r}.example.net`);
      await enqueueMessage(spool, { from: 'list@example.org', recipients: rcpts, message: benchBody(args.size, i) });
    }
    const enqueueMs = performance.now() - enqueueStart;
    // Spooled first, drained later (as in the reference measurements): let the
    // kernel finish writing back the enqueue burst before the clock starts.
    execFileSync('sync');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const flushStart = performance.now();
    const child = spawn(process.execPath, [path.join(root, 'bin', 'bulkmailer'), 'flush', '--quiet'], {
      env: { ...process.env, BULKMAILER_HOME: home },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const [code] = (await once(child, 'exit')) as [number];
    const flushMs = performance.now() - flushStart;
    const counts = await sink.stop();
    const left = (await fs.readdir(path.join(home, 'spool', 'state', '0'))).length;
    const rate = messages / (flushMs / 1000);
    console.log(
      `run ${run}: flush exit ${code}, ${counts.messages} messages / ${counts.recipients} recipients at the sink, ` +
        `${flushMs.toFixed(0)} ms => ${rate.toFixed(0)} msg/s (enqueue: ${(messages / (enqueueMs / 1000)).toFixed(0)} msg/s in-process); ` +
        `entries left in bucket 0: ${left}`,
    );
    return rate;
  } finally {
    await bench.remove();
  }
}

const rates: number[] = [];
for (let run = 1; run <= runs; run++) rates.push(await oneRun(run));
rates.sort((a, b) => a - b);
console.log(
  `median drain rate: ${rates[Math.floor(rates.length / 2)]?.toFixed(0)} msg/s ` +
    `(${messages} x ${recipients} recipients, concurrency ${args.concurrency}, ${runs} runs, node ${process.version})`,
);
