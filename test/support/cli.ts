/**
 * Runs the real executables in bin/ (built dist/ behind them) as child
 * processes, the way cron, a mail client or a user would.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BULKMAILER = path.join(ROOT, 'bin', 'bulkmailer');
export const SENDMAIL = path.join(ROOT, 'bin', 'bulkmailer-sendmail');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  home: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
  bin?: string;
  /** For spawnCli: the child's stdio (default three pipes), e.g. a socket as stdin and stdout, as inetd gives them. */
  stdio?: StdioOptions;
  /** Execute bin/bulkmailer as a program (its shell part first), as a user's shell does, instead of under this Node. */
  asProgram?: boolean;
  /** The child's working directory (default: this test process's, the checkout): for arguments that are relative paths. */
  cwd?: string;
}

/**
 * bin/bulkmailer runs under this test's Node (unless `asProgram`). Any
 * other `bin` (the sendmail command, a symlink to a command) is executed as
 * a program, as cron or a mail client would: the launchers are shell
 * scripts that start `node` from PATH, which gets this Node's directory
 * first.
 */
export function spawnCli(args: string[], options: RunOptions): ChildProcess {
  // No per-user sendmail snapshot (looked up in, or built into, the real ~/.cache) unless a test asks.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', BULKMAILER_SNAPSHOT_CACHE: 'off', ...options.env, BULKMAILER_HOME: options.home };
  const stdio = options.stdio ?? ['pipe', 'pipe', 'pipe'];
  const bin = options.bin ?? BULKMAILER;
  if (bin === BULKMAILER && options.asProgram !== true) {
    return spawn(process.execPath, [BULKMAILER, ...args], { env, stdio, cwd: options.cwd });
  }
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${env.PATH ?? ''}`;
  return spawn(bin, args, { env, stdio, cwd: options.cwd });
}

/** Call right after spawning: output and the exit are only seen from then on. */
export function collect(child: ChildProcess, input?: string | Buffer, timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`command timed out after ${timeoutMs}ms; stderr so far: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin?.on('error', () => {});
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export function runCli(args: string[], options: RunOptions): Promise<RunResult> {
  return collect(spawnCli(args, options), options.input, options.timeoutMs);
}

/**
 * For `bulkmailer listen` spawned with spawnCli: resolves with where it
 * listens once it has printed its "listening on" line ("127.0.0.1:PORT", or
 * a unix socket's path); rejects if it exits first. `result` is the
 * collect() of the same child.
 */
export function untilListening(child: ChildProcess, result: Promise<RunResult>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout?.on('data', (d: string) => {
      stdout += d;
      const match = /^listening on (.+)\n/m.exec(stdout);
      if (match) resolve(match[1] as string);
    });
    result.then((r) => reject(new Error(`listen exited ${r.code} before listening: ${r.stderr}`)), reject);
  });
}

export interface ListeningChild {
  child: ChildProcess;
  /** Its exit and all it printed (collect()). */
  result: Promise<RunResult>;
  /** Where it said it listens: "127.0.0.1:PORT", or a unix socket's path. */
  address: string;
  /** The port of a TCP address (NaN for a unix socket). */
  port: number;
  /** What it has printed on stderr so far. */
  stderr(): string;
}

/** Spawns `bulkmailer listen ARGS` and resolves once it listens (untilListening); rejects if it exits first. */
export async function startListen(args: string[], options: RunOptions): Promise<ListeningChild> {
  const child = spawnCli(['listen', ...args], options);
  const result = collect(child, undefined, options.timeoutMs);
  let stderr = '';
  child.stderr?.on('data', (d: string) => (stderr += d));
  const address = await untilListening(child, result);
  return { child, result, address, port: Number(address.slice(address.lastIndexOf(':') + 1)), stderr: () => stderr };
}
