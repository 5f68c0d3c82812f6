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
import fs from 'node:fs/promises';
import path from 'node:path';
import { startSinkProcess } from './sink-process.js';
import { spoolAndFlush } from './spool-and-flush.js';
import { SPOOL_CONTENT, benchArgs, num } from './args.js';

const args = benchArgs('npm run bench -- [options]', {
  messages: num(2000, 'messages in the spool'),
  ...SPOOL_CONTENT,
  runs: num(3, 'runs'),
});
const { messages, recipients, runs } = args;

async function oneRun(run: number) {
  const sink = await startSinkProcess();
  const drained = await spoolAndFlush({
    config: { smarthost: `smtp://127.0.0.1:${sink.port}`, concurrency: args.concurrency },
    messages,
    size: args.size,
    recipientsOf: (i) => Array.from({ length: recipients }, (_, r) => `member${i % 500}-${r}@d${r}.example.net`),
    afterFlush: async (home) => (await fs.readdir(path.join(home, 'spool', 'state', '0'))).length,
  });
  const counts = await sink.stop();
  console.log(
    `run ${run}: flush exit ${drained.code}, ${counts.messages} messages / ${counts.recipients} recipients at the sink, ` +
      `${drained.flushMs.toFixed(0)} ms => ${drained.rate.toFixed(0)} msg/s (enqueue: ${(messages / (drained.enqueueMs / 1000)).toFixed(0)} msg/s in-process); ` +
      `entries left in bucket 0: ${drained.after}`,
  );
  return drained.rate;
}

const rates: number[] = [];
for (let run = 1; run <= runs; run++) rates.push(await oneRun(run));
rates.sort((a, b) => a - b);
console.log(
  `median drain rate: ${rates[Math.floor(rates.length / 2)]?.toFixed(0)} msg/s ` +
    `(${messages} x ${recipients} recipients, concurrency ${args.concurrency}, ${runs} runs, node ${process.version})`,
);
