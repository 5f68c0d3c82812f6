/**
 * Listener memory benchmark: the peak resident set (VmHWM) of the real
 * `bulkmailer listen` process while a client (test/support/smtp-blast-client.mjs,
 * in its own process) streams a 20 MB and then a 100 MB message, over a
 * baseline taken after a small warm-up message.
 * With --force-gc the listener runs with a full GC every 50 ms, which shows
 * how much of the growth is garbage (read buffers already written to disk,
 * awaiting V8's collector) rather than data the listener holds. What the
 * listener holds is asserted in test/frontends/listener-memory.test.ts
 * (bytes in flight); this is the RSS a user sees, which depends on the
 * Node.js version's collector.
 *
 *   npm run bench:listen-memory -- --runs 3
 *   .ci/with-node 24 npm run bench:listen-memory -- --runs 3 --force-gc
 *   npm run bench:listen-memory -- --root /path/to/other/checkout   # another build
 *
 * Linux only (/proc).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startListenerChild } from './listener-child.js';
import { benchArgs, flag, num, str } from './args.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = benchArgs('npm run bench:listen-memory -- [options]', {
  runs: num(3, 'runs'),
  'force-gc': flag('run the listener with a full GC every 50 ms'),
  root: str(root, 'the checkout whose build is measured'),
});
const BLAST_CLIENT = path.join(root, 'test', 'support', 'smtp-blast-client.mjs');
const GC_EVERY_50_MS = 'data:text/javascript,setInterval(()=>globalThis.gc(),50).unref()';

async function hwmKb(pid: number): Promise<number> {
  return Number(/VmHWM:\s+(\d+) kB/.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Sends one message of `megabytes` through test/support/smtp-blast-client.mjs (its own process, as fast as TCP lets it). */
async function blast(port: number, megabytes: number): Promise<void> {
  const client = spawn(process.execPath, [BLAST_CLIENT, String(port), String(megabytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  client.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = await once(client, 'exit');
  if (code !== 0 || !(JSON.parse(out) as { reply: string }).reply.startsWith('250')) throw new Error(`client: exit ${code}, ${out}`);
}

async function oneRun(run: number): Promise<[number, number]> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-bench-mem-'));
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify({ listener: { maxMessageSize: 200 * 1024 * 1024 } }), { mode: 0o600 });
  const flags = args['force-gc'] ? ['--expose-gc', '--import', GC_EVERY_50_MS] : [];
  const { child, port } = await startListenerChild(args.root, home, flags);
  try {
    await blast(port, 0); // warm up
    const baseline = await hwmKb(child.pid as number);
    await blast(port, 20);
    const after20 = ((await hwmKb(child.pid as number)) - baseline) / 1024;
    await blast(port, 100);
    const after100 = ((await hwmKb(child.pid as number)) - baseline) / 1024;
    console.log(
      `run ${run}: ${process.version}${args['force-gc'] ? ' (GC every 50 ms)' : ''}: baseline ${(baseline / 1024).toFixed(1)} MB, ` +
        `+${after20.toFixed(1)} MB after 20 MB, +${after100.toFixed(1)} MB after 100 MB`,
    );
    return [after20, after100];
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await fs.rm(home, { recursive: true, force: true });
  }
}

const results: Array<[number, number]> = [];
for (let run = 1; run <= args.runs; run++) results.push(await oneRun(run));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
  `median: +${median(results.map((r) => r[0])).toFixed(1)} MB after 20 MB, +${median(results.map((r) => r[1])).toFixed(1)} MB after 100 MB ` +
    `(peak RSS over baseline, ${process.version}${args['force-gc'] ? ', GC every 50 ms' : ''})`,
);
