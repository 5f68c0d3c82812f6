/**
 * The drain benchmarks' measured run (bench/drain.ts, bench/mx-drain.ts):
 * a fresh bench home with the given config.json, N messages spooled
 * in-process (message i to `recipientsOf(i)`), the enqueue burst written
 * back to disk (`sync`, then a second) so the flush does not pay for it,
 * then one `bulkmailer flush --quiet` (the real bin/, a separate process)
 * timed from its start to its exit. `afterFlush` looks at the home before
 * it is removed; the home is removed whatever happens (a failed enqueue or
 * flush spawn rejects).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { enqueueMessage } from '../src/spool/index.js';
import { benchBody, makeBenchHome } from './sink-process.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface SpoolAndFlushOptions<T> {
  /** config.json of the bench home (smarthost or routes, concurrency...). */
  config: Record<string, unknown>;
  messages: number;
  /** Each message's size in bytes, roughly (bench/sink-process.ts benchBody). */
  size: number;
  recipientsOf: (i: number) => string[];
  afterFlush?: (home: string) => Promise<T>;
}

export interface Drained<T> {
  /** The flush's exit code (null: killed by a signal). */
  code: number | null;
  enqueueMs: number;
  flushMs: number;
  /** Messages per second through the flush. */
  rate: number;
  after: T | undefined;
}

export async function spoolAndFlush<T = undefined>(options: SpoolAndFlushOptions<T>): Promise<Drained<T>> {
  const bench = await makeBenchHome('bench', options.config);
  try {
    const enqueueStart = performance.now();
    for (let i = 0; i < options.messages; i++) {
      await enqueueMessage(bench.spool, { from: 'list@example.org', recipients: options.recipientsOf(i), message: benchBody(options.size, i) });
    }
    const enqueueMs = performance.now() - enqueueStart;
    // Spooled first, drained later (as in the reference measurements): let the
    // kernel finish writing back the enqueue burst before the clock starts.
    execFileSync('sync');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const flushStart = performance.now();
    const child = spawn(process.execPath, [path.join(root, 'bin', 'bulkmailer'), 'flush', '--quiet'], {
      env: { ...process.env, BULKMAILER_HOME: bench.home },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    const flushMs = performance.now() - flushStart;
    const after = await options.afterFlush?.(bench.home);
    return { code, enqueueMs, flushMs, rate: options.messages / (flushMs / 1000), after };
  } finally {
    await bench.remove();
  }
}
