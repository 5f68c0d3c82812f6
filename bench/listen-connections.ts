/**
 * Listener connection benchmark: what one SMTP connection costs end to end,
 * for the many clients that open a connection per message (smtplib, PHPMailer,
 * git send-email). Starts the real `bulkmailer listen --port 0` as a child
 * process and
 *
 *   1. opens N connections one after another, each: connect, read the 220,
 *      EHLO, QUIT, wait for the server to close; reports the median and 90th
 *      percentile of each phase and of the whole, and connections per second;
 *   2. holds K connections open and idle after EHLO, and reports the growth
 *      of the listener's resident set (VmRSS, /proc) per idle connection
 *      (median of the rounds; RSS also holds garbage V8 has not collected).
 *
 *   npm run bench:listen-connections -- --connections 500 --idle 500 --runs 3
 *   npm run bench:listen-connections -- --root /path/to/other/checkout   # compare a build
 *
 * Linux only (VmRSS). The client runs in this process: its cost is in the
 * figures, as a real client's would be.
 */
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startListenerChild } from './listener-child.js';
import { benchArgs, num, str } from './args.js';

const args = benchArgs('npm run bench:listen-connections -- [options]', {
  connections: num(500, 'connections opened one after another'),
  idle: num(500, 'connections held open and idle'),
  runs: num(3, 'runs'),
  root: str(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'the checkout whose build is measured'),
});
const { connections, idle } = args;

/** A minimal client: one reply at a time (a reply's last line has a space after the code). */
class Conversation {
  private pending = '';
  private waiting: ((line: string) => void) | null = null;
  private readonly lines: string[] = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.pending += text;
      for (let end = this.pending.indexOf('\r\n'); end >= 0; end = this.pending.indexOf('\r\n')) {
        const line = this.pending.slice(0, end);
        this.pending = this.pending.slice(end + 2);
        if (line[3] === '-') continue;
        const waiter = this.waiting;
        this.waiting = null;
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  reply(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  async command(text: string): Promise<string> {
    this.socket.write(`${text}\r\n`);
    return this.reply();
  }
}

function expect(line: string, code: string): void {
  if (!line.startsWith(code)) throw new Error(`expected ${code}, got ${line}`);
}

async function connectTo(port: number): Promise<Conversation> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return new Conversation(socket);
}

async function rssKb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] as number;

interface Run {
  perSecond: number;
  greeting: number[];
  ehlo: number[];
  quitClose: number[];
  total: number[];
  idleKb: number;
}

async function oneRun(run: number): Promise<Run> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'bulkmailer-bench-conn-'));
  // Room for every idle connection: past listener.maxConnections the oldest idle ones are shed (docs/frontends.md).
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify({ listener: { maxConnections: idle + 10 } }), { mode: 0o600 });
  const { child, port } = await startListenerChild(args.root, home);
  try {
    // Warm up the code paths before measuring.
    for (let i = 0; i < 20; i++) {
      const c = await connectTo(port);
      expect(await c.reply(), '220');
      expect(await c.command('QUIT'), '221');
      await c.closed;
    }
    const greeting: number[] = [];
    const ehlo: number[] = [];
    const quitClose: number[] = [];
    const total: number[] = [];
    const started = performance.now();
    for (let i = 0; i < connections; i++) {
      const t0 = performance.now();
      const c = await connectTo(port);
      expect(await c.reply(), '220');
      const t1 = performance.now();
      expect(await c.command('EHLO bench.example.org'), '250');
      const t2 = performance.now();
      expect(await c.command('QUIT'), '221');
      await c.closed;
      const t3 = performance.now();
      greeting.push(t1 - t0);
      ehlo.push(t2 - t1);
      quitClose.push(t3 - t2);
      total.push(t3 - t0);
    }
    const perSecond = connections / ((performance.now() - started) / 1000);

    const before = await rssKb(child.pid as number);
    const held: Conversation[] = [];
    for (let i = 0; i < idle; i++) {
      const c = await connectTo(port);
      expect(await c.reply(), '220');
      expect(await c.command('EHLO idle.example.org'), '250');
      held.push(c);
    }
    const afterOpen = await rssKb(child.pid as number);
    const idleKb = (afterOpen - before) / idle;
    for (const c of held) c.socket.destroy();

    const ms = (x: number) => x.toFixed(2);
    console.log(
      `run ${run}: ${connections} connections one after another: ${perSecond.toFixed(0)}/s; ` +
        `median (p90) ms: connect+220 ${ms(median(greeting))} (${ms(p90(greeting))}), EHLO ${ms(median(ehlo))} (${ms(p90(ehlo))}), ` +
        `QUIT+close ${ms(median(quitClose))} (${ms(p90(quitClose))}), whole ${ms(median(total))} (${ms(p90(total))}); ` +
        `${idle} idle connections: +${((afterOpen - before) / 1024).toFixed(1)} MB RSS, ${idleKb.toFixed(1)} KB each`,
    );
    return { perSecond, greeting, ehlo, quitClose, total, idleKb };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await fs.rm(home, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (let run = 1; run <= args.runs; run++) runs.push(await oneRun(run));
const med = (pick: (r: Run) => number) => median(runs.map(pick));
console.log(
  `median of ${runs.length} runs (${args.root}): ${med((r) => r.perSecond).toFixed(0)} connections/s; whole connection ` +
    `${med((r) => median(r.total)).toFixed(2)} ms (connect+220 ${med((r) => median(r.greeting)).toFixed(2)}, ` +
    `EHLO ${med((r) => median(r.ehlo)).toFixed(2)}, QUIT+close ${med((r) => median(r.quitClose)).toFixed(2)}); ` +
    `${med((r) => r.idleKb).toFixed(1)} KB RSS per idle connection`,
);
