/**
 * Listener benchmark: the fast way in for list software. Starts the real
 * `bulkmailer listen --port 0` as a child process and submits N messages
 * over SMTP from C clients (nodemailer, one connection each, reused), each
 * message acknowledged only once it is durable in the spool. Reports
 * messages per second, and the listener's memory: its PSS (its share of
 * the pages it maps, read from /proc/PID/smaps_rollup) once idle after
 * start-up, its peak while the messages arrive (sampled every 20 ms), and
 * at the end, and the same for its anonymous part alone; and its CPU
 * (user + system, all threads) per message; the median of several runs.
 *
 *   npm run bench:listen -- --messages 500 --clients 1 --runs 3
 *   npm run bench:listen -- --root /path/to/other/checkout   # the same against another build
 *
 * Reference: Postfix's smtpd takes ~240 messages/s from one client here.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { removeEntryLockTarget } from '../src/spool/index.js';
import { startListenerChild } from './listener-child.js';
import { benchArgs, num, str } from './args.js';

const args = benchArgs('npm run bench:listen -- [options]', {
  messages: num(500, 'messages submitted'),
  clients: num(1, 'SMTP clients in parallel'),
  runs: num(3, 'runs'),
  root: str(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'the checkout whose build is measured'),
});
const { messages, clients } = args;

/**
 * The process's PSS in MiB, or 0 once it is gone: all of it, or only its
 * anonymous memory (heap, stacks, malloc), which no other process shares.
 * The file-backed rest (Node's binary, ICU: ~43 MiB when no other Node
 * process runs) is divided among the processes mapping it, so the total
 * depends on how many Node processes the machine runs; the anonymous part
 * does not.
 */
function pssMib(pid: number, field: 'Pss' | 'Pss_Anon' = 'Pss'): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The process's user + system CPU seconds so far (clock ticks, 100 per second on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Run {
  rate: number;
  idle: number;
  peak: number;
  end: number;
  anonIdle: number;
  anonPeak: number;
  cpuMsPerMessage: number;
}

async function oneRun(run: number): Promise<Run> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-bench-listen-'));
  const { child, port } = await startListenerChild(args.root, home);
  const pid = child.pid as number;
  let peak = 0;
  let anonPeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    await new Promise((resolve) => setTimeout(resolve, 500)); // start-up's garbage settles
    const idle = pssMib(pid);
    const anonIdle = pssMib(pid, 'Pss_Anon');
    const cpuBefore = cpuSeconds(pid);
    sampler = setInterval(() => {
      peak = Math.max(peak, pssMib(pid));
      anonPeak = Math.max(anonPeak, pssMib(pid, 'Pss_Anon'));
    }, 20);
    const body = 'The quick brown fox jumps over the lazy dog.\r\n'.repeat(40);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const transport = nodemailer.createTransport({ host: '127.0.0.1', port, pool: true, maxConnections: 1, maxMessages: Infinity });
        for (let i = c; i < messages; i += clients) {
          await transport.sendMail({
            envelope: { from: 'list@example.org', to: [0, 1, 2, 3, 4].map((r) => `m${i}-${r}@example.net`) },
            raw: `From: list@example.org\r\nTo: members@example.org\r\nSubject: post ${i}\r\n\r\n${body}`,
          });
        }
        transport.close();
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const rate = messages / seconds;
    clearInterval(sampler);
    const cpuMsPerMessage = ((cpuSeconds(pid) - cpuBefore) / messages) * 1000;
    const end = pssMib(pid);
    peak = Math.max(peak, end);
    console.log(
      `run ${run}: ${messages} messages from ${clients} client(s) in ${seconds.toFixed(2)} s => ${rate.toFixed(0)} msg/s, ` +
        `listener CPU ${cpuMsPerMessage.toFixed(2)} ms/message; ` +
        `listener PSS ${idle.toFixed(1)} MiB idle, peak ${peak.toFixed(1)}, at the end ${end.toFixed(1)}; ` +
        `anonymous ${anonIdle.toFixed(1)} idle, peak ${anonPeak.toFixed(1)}`,
    );
    return { rate, idle, peak, end, anonIdle, anonPeak, cpuMsPerMessage };
  } finally {
    clearInterval(sampler);
    child.kill('SIGTERM');
    await once(child, 'exit');
    removeEntryLockTarget(home);
    await fs.rm(home, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (let run = 1; run <= args.runs; run++) runs.push(await oneRun(run));
const median = (pick: (r: Run) => number) => [...runs].map(pick).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
console.log(
  `median: ${median((r) => r.rate).toFixed(0)} msg/s accepted durably (${clients} client(s), ${messages} messages), ` +
    `listener CPU ${median((r) => r.cpuMsPerMessage).toFixed(2)} ms/message; ` +
    `listener PSS ${median((r) => r.idle).toFixed(1)} MiB idle, peak ${median((r) => r.peak).toFixed(1)}, ` +
    `at the end ${median((r) => r.end).toFixed(1)}; anonymous ${median((r) => r.anonIdle).toFixed(1)} idle, ` +
    `peak ${median((r) => r.anonPeak).toFixed(1)} (${args.root})`,
);
