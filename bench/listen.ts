/**
 * Listener benchmark: the fast way in for list software. Starts the real
 * `bulkmailer listen --port 0` as a child process and submits N messages
 * over SMTP from C clients (nodemailer, one connection each, reused), each
 * message acknowledged only once it is durable in the spool. Reports
 * messages per second; the median of several runs.
 *
 *   npm run bench:listen -- --messages 500 --clients 1 --runs 3
 *
 * Reference: Postfix's smtpd takes ~240 messages/s from one client here.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import { removeEntryLockTarget } from '../src/spool/index.js';
import { startListenerChild } from './listener-child.js';
import { benchArgs, num } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = benchArgs('npm run bench:listen -- [options]', {
  messages: num(500, 'messages submitted'),
  clients: num(1, 'SMTP clients in parallel'),
  runs: num(3, 'runs'),
});
const { messages, clients } = args;

async function oneRun(run: number): Promise<number> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-bench-listen-'));
  const { child, port } = await startListenerChild(root, home);
  try {
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
    console.log(`run ${run}: ${messages} messages from ${clients} client(s) in ${seconds.toFixed(2)} s => ${rate.toFixed(0)} msg/s`);
    return rate;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    removeEntryLockTarget(home);
    await fs.rm(home, { recursive: true, force: true });
  }
}

const rates: number[] = [];
for (let run = 1; run <= args.runs; run++) rates.push(await oneRun(run));
rates.sort((a, b) => a - b);
console.log(`median: ${rates[Math.floor(rates.length / 2)]?.toFixed(0)} msg/s accepted durably (${clients} client(s), ${messages} messages)`);
