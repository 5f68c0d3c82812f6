/**
 * Bench helpers shared by the drain benchmarks: the SMTP sink as a child
 * process (bench/smtp-sink.ts, on 127.0.0.1 or another loopback address),
 * the benchmark's home and spool, and the message body.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { openSpool, removeEntryLockTarget, type Spool } from '../src/spool/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface SinkProcess {
  port: number;
  /** Stops the sink and answers its counts: connections, messages, recipients, bytes. */
  stop(): Promise<Record<string, number>>;
}

export async function startSinkProcess(host = '127.0.0.1', port = 0): Promise<SinkProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'smtp-sink.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: root,
    env: { ...process.env, SINK_HOST: host, SINK_PORT: String(port) },
  });
  child.stdout.setEncoding('utf8');
  let out = '';
  const bound = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`sink on ${host}:${port} exited ${code}`)));
  });
  return {
    port: bound,
    async stop() {
      out = '';
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
      await once(child, 'exit');
      return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
    },
  };
}

export function benchBody(size: number, i: number): string {
  const line = 'The quick brown fox jumps over the lazy dog. 0123456789\r\n';
  return (
    `From: list@example.org\r\nTo: members@example.org\r\nSubject: bench ${i}\r\n` +
    `Message-ID: <bench-${i}@example.org>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n` +
    line.repeat(Math.max(1, Math.round(size / line.length)))
  );
}

export interface BenchHome {
  home: string;
  spool: Spool;
  /** Removes the home and its lock directory. */
  remove(): Promise<void>;
}

/** A fresh home under $BENCH_DIR (or the temp dir) with this config.json, and its spool. */
export async function makeBenchHome(prefix: string, config: Record<string, unknown>): Promise<BenchHome> {
  const home = await fs.mkdtemp(path.join(process.env.BENCH_DIR ?? os.tmpdir(), `bulkmailer-${prefix}-`));
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return {
    home,
    spool: await openSpool(home),
    async remove() {
      removeEntryLockTarget(home);
      await fs.rm(home, { recursive: true, force: true });
    },
  };
}
