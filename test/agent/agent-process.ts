/**
 * Helpers for the agent's black-box tests: run `bin/bulkmailer agent --json`
 * as a child process, follow its typed events (JSON lines on stdout, the
 * AgentEventMap of src/agent/agent.ts) and wait for one, stop it with a
 * signal and time the exit. The log lines on stderr are kept only to show
 * when a test fails: their wording is for people, not for tests. Enqueue
 * goes through the spool library and the real trigger socket, as an
 * enqueuing process would. Every child is killed by `killAll` in the
 * tests' after hooks, whatever happened.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before } from 'node:test';
import { spawnCli } from '../support/cli.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { enqueueMessage, nudgeFlusher, openSpool } from '../../src/spool/index.js';
import type { AgentEventMap } from '../../src/agent/agent.js';

export type AgentEventName = keyof AgentEventMap;
/** One event as `agent --json` writes it: its name, time and payload. */
export type AgentEvent<K extends AgentEventName = AgentEventName> = { event: K; time: string } & (AgentEventMap[K] extends [infer P] ? P : object);

export interface AgentProcess {
  child: ChildProcess;
  pid: number;
  /** Log lines (stderr), for failure messages. */
  lines: string[];
  events: AgentEvent[];
  /** Resolves with the first `name` event (at or after index `from`) that `match` accepts. */
  waitFor<K extends AgentEventName>(
    name: K,
    match?: (event: AgentEvent<K>) => boolean,
    options?: { timeoutMs?: number; from?: number },
  ): Promise<{ event: AgentEvent<K>; index: number }>;
  count<K extends AgentEventName>(name: K, match?: (event: AgentEvent<K>) => boolean): number;
  /** Sends `signal`, resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

export function startAgent(home: string, env: Record<string, string> = {}): AgentProcess {
  const child = spawnCli(['agent', '--json'], { home, env });
  running.add(child);
  const lines: string[] = [];
  const events: AgentEvent[] = [];
  type Waiter = { accepts: (e: AgentEvent) => boolean; from: number; resolve: (v: { event: AgentEvent; index: number }) => void };
  const waiters: Waiter[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const index = events.findIndex((e, i) => i >= w.from && w.accepts(e));
      if (index < 0) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve({ event: events[index]!, index });
    }
  };
  const splitLines = (stream: NodeJS.ReadableStream, onLine: (line: string) => void) => {
    let buffer = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffer += chunk;
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      parts.forEach(onLine);
    });
  };
  splitLines(child.stderr!, (line) => lines.push(line));
  splitLines(child.stdout!, (line) => {
    events.push(JSON.parse(line) as AgentEvent);
    check();
  });
  child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const describe = () => `events:\n${events.map((e) => JSON.stringify(e)).join('\n')}\nlog:\n${lines.join('\n')}`;
  return {
    child,
    pid: child.pid!,
    lines,
    events,
    exited,
    waitFor(name, match = () => true, { timeoutMs = 20_000, from = 0 } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no ${name} event as expected within ${timeoutMs}ms; ${describe()}`));
        }, timeoutMs);
        const entry: Waiter = {
          accepts: (e) => e.event === name && match(e as AgentEvent<typeof name>),
          from,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as { event: AgentEvent<typeof name>; index: number });
          },
        };
        waiters.push(entry);
        check();
        void exited.then(() => setImmediate(() => {
          if (waiters.includes(entry)) {
            waiters.splice(waiters.indexOf(entry), 1);
            clearTimeout(timer);
            reject(new Error(`agent exited before the ${name} event expected; ${describe()}`));
          }
        }));
      });
    },
    count(name, match = () => true) {
      return events.filter((e) => e.event === name && match(e as AgentEvent<typeof name>)).length;
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

/** A flush-end event's check: its reasons include `reason` and its result is `outcome` with `sent` sent. */
export function flushEnded(reason: string, outcome: string, sent?: number) {
  return (e: AgentEvent<'flush-end'>) =>
    e.reasons.includes(reason as never) && e.result?.outcome === outcome && (sent === undefined || e.result.sent === sent);
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

/**
 * The agent tests' shared start, for a whole test file: one capture
 * smarthost and one home whose config sends to it on `schedule` (by
 * default one that never fires, so only nudges start flushes), handed to
 * `use`; at the end every agent started is killed and both are gone.
 */
export function agentTestHome(use: (home: TempHome, server: CaptureServer) => void, schedule = '0 0 1 1 *'): void {
  let home: TempHome;
  let server: CaptureServer;
  before(async () => {
    home = await makeTempHome();
    server = await startCaptureServer();
    await writeConfig(home.home, { smarthost: server.url, schedule });
    use(home, server);
  });
  after(async () => {
    await killAll();
    await server.close();
    await home.cleanup();
  });
}
