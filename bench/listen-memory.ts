/**
 * Listener memory benchmark: the peak resident set (VmHWM) of the real
 * `bulkmailer listen` process while one client streams a 20 MB and then a
 * 100 MB message, over a baseline taken after a small warm-up message.
 * With --force-gc the listener runs with a full GC every 50 ms, which shows
 * how much of the growth is garbage (read buffers already written to disk,
 * awaiting V8's collector) rather than data the listener holds. What the
 * listener holds is asserted in test/frontends/listener-memory.test.ts
 * (bytes in flight); this is the RSS a user sees, which depends on the
 * Node.js version's collector.
 *
 *   npm run bench:listen-memory -- --runs 3
 *   .ci/with-node 24 npm run bench:listen-memory -- --runs 3 --force-gc
 *
 * Linux only (/proc).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'force-gc': { type: 'boolean', default: false },
  },
});
const GC_EVERY_50_MS = 'data:text/javascript,setInterval(()=>globalThis.gc(),50).unref()';

async function hwmKb(pid: number): Promise<number> {
  return Number(/VmHWM:\s+(\d+) kB/.exec(await fs.readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** One reply at a time over a raw socket. */
function replies(socket: net.Socket): () => Promise<string> {
  let pending = '';
  const ready: string[] = [];
  let wake = () => {};
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    pending += text;
    for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (line[3] !== '-') ready.push(line);
    }
    wake();
  });
  return async () => {
    while (ready.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return ready.shift() as string;
  };
}

async function oneRun(run: number): Promise<[number, number]> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-bench-mem-'));
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify({ listener: { maxMessageSize: 200 * 1024 * 1024 } }), { mode: 0o600 });
  const flags = values['force-gc'] ? ['--expose-gc', '--import', GC_EVERY_50_MS] : [];
  const child = spawn(process.execPath, [...flags, path.join(root, 'bin', 'bulkmailer'), 'listen', '--port', '0'], {
    env: { ...process.env, BULKMAILER_HOME: home },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    child.stdout.setEncoding('utf8');
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: string) => {
        out += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`listen exited ${code}`)));
    });
    const socket = net.connect(port, '127.0.0.1');
    const reply = replies(socket);
    const command = async (text: string, code: string) => {
      socket.write(`${text}\r\n`);
      const line = await reply();
      if (!line.startsWith(code)) throw new Error(`${text}: ${line}`);
    };
    if (!(await reply()).startsWith('220')) throw new Error('no greeting');
    await command('EHLO bench.example.org', '250');
    const send = async (megabytes: number, body?: string) => {
      await command('MAIL FROM:<a@example.org>', '250');
      await command('RCPT TO:<b@example.org>', '250');
      await command('DATA', '354');
      socket.write(`Subject: ${megabytes} MB\r\n\r\n`);
      if (body !== undefined) socket.write(body);
      const line = `${'0123456789'.repeat(7)}abcdefg\r\n`;
      const block = Buffer.from(line.repeat(Math.floor(65_536 / line.length)));
      for (let sent = 0; sent < megabytes * 1024 * 1024; sent += block.length) {
        if (!socket.write(block)) await once(socket, 'drain');
      }
      await command('.', '250');
    };
    await send(0, 'warm up\r\n');
    const baseline = await hwmKb(child.pid as number);
    await send(20);
    const after20 = ((await hwmKb(child.pid as number)) - baseline) / 1024;
    await send(100);
    const after100 = ((await hwmKb(child.pid as number)) - baseline) / 1024;
    console.log(
      `run ${run}: ${process.version}${values['force-gc'] ? ' (GC every 50 ms)' : ''}: baseline ${(baseline / 1024).toFixed(1)} MB, ` +
        `+${after20.toFixed(1)} MB after 20 MB, +${after100.toFixed(1)} MB after 100 MB`,
    );
    socket.destroy();
    return [after20, after100];
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await fs.rm(home, { recursive: true, force: true });
  }
}

const results: Array<[number, number]> = [];
for (let run = 1; run <= Number(values.runs); run++) results.push(await oneRun(run));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
  `median: +${median(results.map((r) => r[0])).toFixed(1)} MB after 20 MB, +${median(results.map((r) => r[1])).toFixed(1)} MB after 100 MB ` +
    `(peak RSS over baseline, ${process.version}${values['force-gc'] ? ', GC every 50 ms' : ''})`,
);
