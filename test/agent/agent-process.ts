/**
 * Helpers for the agent's black-box tests: run `bin/bulkmailer agent` as a
 * child process, follow its log lines on stderr, wait for a line (the
 * agent's events made observable), stop it with a signal and time the
 * exit. Enqueue goes through the spool library and the real trigger
 * socket, as an enqueuing process would. Every child is killed by
 * `killAll` in the tests' after hooks, whatever happened.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawnCli } from '../support/cli.js';
import { enqueueMessage, nudgeFlusher, openSpool } from '../../src/spool/index.js';

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  lines: string[];
  /** Resolves with the first line (at or after index `from`) matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number, from?: number): Promise<{ line: string; index: number }>;
  count(re: RegExp): number;
  /** Sends `signal`, resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

export function startAgent(home: string, env: Record<string, string> = {}): AgentProcess {
  const child = spawnCli(['agent'], { home, env });
  running.add(child);
  const lines: string[] = [];
  const waiters: { re: RegExp; from: number; resolve: (v: { line: string; index: number }) => void }[] = [];
  let buffer = '';
  const check = () => {
    for (const w of [...waiters]) {
      for (let i = w.from; i < lines.length; i++) {
        if (w.re.test(lines[i]!)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve({ line: lines[i]!, index: i });
          break;
        }
      }
    }
  };
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
    check();
  });
  child.stdout!.resume();
  child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    pid: child.pid!,
    lines,
    exited,
    waitForLine(re, timeoutMs = 20_000, from = 0) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no line matching ${re} within ${timeoutMs}ms; log:\n${lines.join('\n')}`));
        }, timeoutMs);
        const entry = {
          re,
          from,
          resolve: (v: { line: string; index: number }) => {
            clearTimeout(timer);
            resolve(v);
          },
        };
        waiters.push(entry);
        check();
        void exited.then(() => setImmediate(() => {
          if (waiters.includes(entry)) {
            waiters.splice(waiters.indexOf(entry), 1);
            clearTimeout(timer);
            reject(new Error(`agent exited before a line matching ${re}; log:\n${lines.join('\n')}`));
          }
        }));
      });
    },
    count(re) {
      return lines.filter((l) => re.test(l)).length;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      const started = performance.now();
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: performance.now() - started };
    },
  };
}

export async function killAll(): Promise<void> {
  for (const child of running) {
    child.kill('SIGKILL');
    await once(child, 'close').catch(() => {});
  }
}

export function testMessage(to: string, n: number): string {
  return `From: list@example.test\r\nTo: ${to}\r\nSubject: post ${n}\r\nMessage-ID: <post-${n}@example.test>\r\n\r\nHello ${n}\r\n`;
}

/** Enqueues one message per recipient (durably), without nudging. */
export async function enqueueMany(home: string, recipients: string[]): Promise<string[]> {
  const spool = await openSpool(home);
  const ids: string[] = [];
  for (const [i, to] of recipients.entries()) {
    const result = await enqueueMessage(spool, { from: 'list@example.test', recipients: [to], message: testMessage(to, i) });
    ids.push(result.id);
  }
  return ids;
}

export async function nudge(home: string): Promise<boolean> {
  return nudgeFlusher(await openSpool(home));
}

/** Recipients of every entry still in the spool, by reading state files. */
export async function spoolRecipients(home: string): Promise<{ address: string; status: string }[]> {
  const stateRoot = path.join(home, 'spool', 'state');
  const out: { address: string; status: string }[] = [];
  for (const bucket of await fs.readdir(stateRoot).catch(() => [] as string[])) {
    for (const name of await fs.readdir(path.join(stateRoot, bucket))) {
      const state = JSON.parse(await fs.readFile(path.join(stateRoot, bucket, name), 'utf8')) as {
        recipients: { address: string; status: string }[];
      };
      out.push(...state.recipients.map((r) => ({ address: r.address, status: r.status })));
    }
  }
  return out;
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
