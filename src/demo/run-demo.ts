/**
 * `bulkmailer demo`: the whole idea on this machine alone, touching nothing
 * of the user's. In a temporary home (removed at the end, also on failure
 * and Ctrl-C):
 *
 *   1. a list post to N members is queued while the smarthost (an
 *      embedded sink on 127.0.0.1, sink-smarthost.ts) is not listening;
 *   2. a flush finds it offline: nothing attempted, nothing counted;
 *   3. `status` shows the queue;
 *   4. the smarthost comes up; a real `bulkmailer flush` child delivers
 *      with its progress output, and is killed with SIGKILL part-way;
 *   5. `status` again: the entry is part sent, nothing lost;
 *   6. a second flush sends only what was missing;
 *   7. the summary: what the sink captured, each member exactly once, or
 *      twice only for the recipients of the one transaction in flight at
 *      the kill (promise 3's crash window), and the time taken.
 *
 * Every step runs the real bin/bulkmailer as a child with --home, so what
 * the demo shows is what users run. Fails (exit 70) if the summary finds a
 * member missing or a duplicate outside the crash window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulkmailerError, ExitCode } from '../errors.js';
import { enqueueMessage, openSpool, removeEntryLockTarget } from '../spool/index.js';
import { formatDuration } from '../config/duration.js';
import { createSinkSmarthost, pickFreePort, type SinkTransaction } from './sink-smarthost.js';
import { plural } from '../text.js';

export interface DemoOptions {
  recipients: number;
  /** Recipients per SMTP transaction (small, so the kill lands mid-way). */
  perTransaction?: number;
  /** The sink's delay before accepting each message, in ms. */
  delayMs?: number;
}

/**
 * Where the demo writes, and how it styles text: a plain interface, so the
 * demo needs nothing from src/cli (the CLI passes its streams and palette).
 */
export interface DemoOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The environment the demo's child processes get. */
  env: NodeJS.ProcessEnv;
  /** Text styles; each returns its text unchanged when colour is off. */
  style: Record<'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan', (text: string) => string>;
}

const BIN = fileURLToPath(new URL('../../bin/bulkmailer', import.meta.url));

export interface DemoVerdict {
  members: number;
  captured: number;
  transactions: number;
  missing: string[];
  /** Members received twice or more. */
  duplicates: string[];
  /** The duplicates all come from one transaction accepted before the kill. */
  duplicatesInCrashWindow: boolean;
}

/** Checks the sink's record against the member list (pure; tested on its own terms by the demo test). */
export function judgeDelivery(members: readonly string[], transactions: readonly SinkTransaction[], killedAt: number | null): DemoVerdict {
  const counts = new Map<string, number>();
  for (const t of transactions) for (const to of t.to) counts.set(to, (counts.get(to) ?? 0) + 1);
  const missing = members.filter((m) => !counts.has(m));
  const duplicates = members.filter((m) => (counts.get(m) ?? 0) > 1);
  let inWindow = duplicates.length === 0;
  if (!inWindow && killedAt !== null) {
    // The first copies of the duplicates must all be in one transaction, the last accepted before the kill.
    const beforeKill = transactions.filter((t) => t.at <= killedAt);
    const last = beforeKill[beforeKill.length - 1];
    inWindow = last !== undefined && duplicates.every((d) => last.to.includes(d) && (counts.get(d) ?? 0) === 2);
  }
  return {
    members: members.length,
    captured: [...counts.values()].reduce((a, b) => a + b, 0),
    transactions: transactions.length,
    missing,
    duplicates,
    duplicatesInCrashWindow: inWindow,
  };
}

export async function runDemo(ctx: DemoOutput, options: DemoOptions): Promise<number> {
  const c = ctx.style;
  const n = options.recipients;
  const perTransaction = options.perTransaction ?? 10;
  const started = Date.now();
  const out = (text = '') => ctx.stdout.write(text + '\n');
  const step = (k: number, text: string) => out(`\n${c.bold(c.cyan(`[${k}/7]`))} ${c.bold(text)}`);
  const children = new Set<ChildProcess>();
  const onTerminal = ctx.stdout === process.stdout && ctx.stderr === process.stderr && Boolean(process.stderr.isTTY);

  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkmailer-demo-'));
  const port = await pickFreePort();
  // Slower on a terminal, so a person can watch the progress bar before the kill.
  const sink = createSinkSmarthost(port, { delayMs: options.delayMs ?? (onTerminal ? 80 : 25) });
  let aborted = false;
  const killChildren = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  // Ctrl-C: stop the children and every later step; `finally` still cleans up.
  const interrupted = () => {
    aborted = true;
    killChildren();
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  /** Runs bin/bulkmailer --home HOME ARGS with our stdout/stderr; resolves with its exit code. */
  const cli = (args: string[], onSpawn?: (child: ChildProcess) => void): Promise<number | null> =>
    new Promise((resolve, reject) => {
      if (aborted) {
        reject(new BulkmailerError('E_INTERRUPTED', 'demo interrupted', { exitCode: ExitCode.tempFail }));
        return;
      }
      // On a terminal the children share it (flush draws its progress bar); otherwise their
      // output goes through ctx, so the demo's own streams decide where it ends up.
      const child = spawn(process.execPath, [BIN, '--home', home, ...args], {
        stdio: ['ignore', onTerminal ? 'inherit' : 'pipe', onTerminal ? 'inherit' : 'pipe'],
        env: ctx.env,
      });
      children.add(child);
      child.stdout?.on('data', (d: Buffer) => ctx.stdout.write(d));
      child.stderr?.on('data', (d: Buffer) => ctx.stdout.write(d)); // one stream, so the story stays in order
      child.on('error', reject);
      child.on('close', (code) => {
        children.delete(child);
        resolve(code);
      });
      onSpawn?.(child);
    });

  try {
    out(c.bold('bulkmailer demo') + `: a list post to ${n} members, an offline smarthost, a crash, a resume.`);
    out(`temporary home: ${home} (removed at the end)`);
    out(`demo smarthost: smtp://127.0.0.1:${port} (an SMTP sink inside this process)`);
    await fs.writeFile(
      path.join(home, 'config.json'),
      JSON.stringify({ smarthost: `smtp://127.0.0.1:${port}`, maxRecipientsPerTransaction: perTransaction, concurrency: 2, from: 'list@demo.example' }, null, 2),
      { mode: 0o600 },
    );

    step(1, `Queue a post to ${n} list members while the smarthost is offline`);
    const members = Array.from({ length: n }, (_, i) => `member${String(i + 1).padStart(4, '0')}@demo.example`);
    const spool = await openSpool(home);
    const message =
      'From: Demo List <list@demo.example>\r\nTo: members@demo.example\r\nSubject: [demo] Meeting moved to Thursday\r\n' +
      `Message-ID: <demo-${Date.now()}@demo.example>\r\nDate: ${new Date().toUTCString()}\r\n\r\n` +
      'Hello everyone,\r\n\r\nThe meeting moves to Thursday, 18:00.\r\n';
    const queued = await enqueueMessage(spool, {
      from: 'list@demo.example',
      recipients: members,
      message,
      subject: '[demo] Meeting moved to Thursday',
      messageId: '<demo@demo.example>',
    });
    out(`queued ${queued.id}: ${queued.size} bytes, ${plural(n, 'recipient')}, on disk (fsynced) before this line`);

    step(2, 'Flush while offline: nothing is attempted, nothing counts against the entry');
    out(`$ bulkmailer flush     ${c.dim('(exit 75: try again later)')}`);
    const offline = await cli(['flush']);
    out(c.dim(`exit ${offline}`));

    step(3, 'The queue');
    out('$ bulkmailer status');
    await cli(['status']);

    step(4, `The smarthost comes up; flush, and kill -9 the flush part-way`);
    await sink.start();
    const killAfter = Math.max(1, Math.floor(n / 3));
    let killedAt: number | null = null;
    let captured = 0;
    let flushPid = 0;
    out('$ bulkmailer flush');
    const killed = await cli(['flush'], (child) => {
      flushPid = child.pid ?? 0;
      sink.onAccepted = (t) => {
        captured += t.to.length;
        if (killedAt === null && captured >= killAfter) {
          killedAt = Date.now();
          child.kill('SIGKILL');
        }
      };
    });
    sink.onAccepted = null;
    // A flush killed with SIGKILL cannot restore the terminal its progress bar changed: cursor and line wrap back on.
    if (onTerminal) ctx.stderr.write('\u001b[?25h\u001b[?7h');
    out('');
    out(c.yellow(`*** flush (pid ${flushPid}) killed with SIGKILL after the smarthost accepted ${plural(captured, 'recipient')} (exit ${killed ?? 'signal'}) ***`));

    step(5, 'The queue after the crash: delivered recipients are recorded, nothing is lost');
    out('$ bulkmailer status');
    await cli(['status']);

    step(6, 'Flush again: only what was missing is sent');
    const before = sink.transactions.length;
    out('$ bulkmailer flush');
    const resumed = await cli(['flush']);
    out(c.dim(`exit ${resumed}; the sink accepted ${sink.transactions.slice(before).reduce((k, t) => k + t.to.length, 0)} more recipients`));

    step(7, 'What the smarthost captured');
    const verdict = judgeDelivery(members, sink.transactions, killedAt);
    out(`captured: ${plural(verdict.captured, 'recipient copy', 'recipient copies')} in ${plural(verdict.transactions, 'SMTP transaction')}, for ${plural(n, 'member')}`);
    out(`missing: ${verdict.missing.length === 0 ? c.green('none') : c.red(`${verdict.missing.length} (${verdict.missing.slice(0, 5).join(', ')})`)}`);
    if (verdict.duplicates.length === 0) {
      out(`duplicates: ${c.green('none')}: every member received the post exactly once`);
    } else {
      out(
        `duplicates: ${verdict.duplicates.length}, all from the one transaction the smarthost had accepted when the flush was killed, ` +
          `before its outcome was on disk (the documented crash window: a duplicate rather than a loss)`,
      );
    }
    out(`time taken: ${formatDuration(Date.now() - started)}`);
    const ok = verdict.missing.length === 0 && verdict.duplicatesInCrashWindow && resumed === 0;
    if (!ok) {
      throw new BulkmailerError('E_DEMO', `the demo did not end as it should (resumed flush exit ${resumed}); please report this`, {
        exitCode: ExitCode.software,
      });
    }
    out(c.green('demo complete: every member got the post, none twice outside the crash window.'));
    return 0;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    killChildren();
    await sink.stop().catch(() => {});
    removeEntryLockTarget(home);
    await fs.rm(home, { recursive: true, force: true });
    out(c.dim(`removed ${home}`));
  }
}
