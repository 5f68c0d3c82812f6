/**
 * Flush progress output (src/cli/progress.ts): in-process with scripted
 * events and a fake clock (the line rate without a terminal, --quiet,
 * --verbose, the cli-progress bar on a stream that says it is a TTY), and
 * end to end: a real `bulkmailer flush` against a capture smarthost with a
 * pipe (plain lines, no escape codes) and on a pseudo-terminal (a live bar,
 * cursor hidden while it runs and restored after).
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { attachFlushOutput } from '../../src/cli/progress.js';
import type { CommandContext } from '../../src/cli/context.js';
import { FlushEvents, type FlushResult } from '../../src/flush/flush-events.js';
import type { RecipientOutcome } from '../../src/model/transitions.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { BULKMAILER, runCli } from '../support/cli.js';
import { runInPty } from '../support/pty.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeLargeSpool } from '../support/spool-fixtures.js';

class Collector extends Writable {
  text = '';
  isTTY: boolean;
  columns = 120;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  private waiters: { re: RegExp; resolve: () => void }[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    this.waiters = this.waiters.filter((w) => (w.re.test(this.text) ? (w.resolve(), false) : true));
    done();
  }
  /** Resolves once what was written matches `re` (the event a test waits on, instead of a sleep). */
  written(re: RegExp): Promise<void> {
    if (re.test(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ re, resolve }));
  }
}

function fakeContext(tty: boolean): { ctx: CommandContext; out: Collector; err: Collector } {
  const out = new Collector(tty);
  const err = new Collector(tty);
  const ctx = { home: '/nonexistent', stdout: out, stderr: err, stdin: process.stdin, env: {}, color: false } as unknown as CommandContext;
  return { ctx, out, err };
}

const endResult = { outcome: 'done', exitCode: 0 } as unknown as FlushResult;

function outcomes(addresses: string[], kind: RecipientOutcome['kind'] = 'sent'): RecipientOutcome[] {
  return addresses.map((address) => ({ address, kind, reply: kind === 'sent' ? '250 ok' : '451 4.7.1 try later' }));
}

describe('progress output, in-process', () => {
  test('without a terminal: a start line, then at most one progress line per interval', () => {
    const { ctx, out, err } = fakeContext(false);
    const events = new FlushEvents();
    let clock = 1_000_000;
    attachFlushOutput(events, ctx, { now: () => clock, intervalMs: 5_000 });
    events.emit('start', { smarthost: 'smtp://127.0.0.1:2525', dueEntries: 3, dueRecipients: 100, pass: 0 });
    // 100 transactions of one recipient, 120 ms apart: 12 s in all.
    for (let i = 0; i < 100; i++) {
      clock += 120;
      events.emit('transaction', { id: `e${i % 3}`, smarthost: 'smtp://127.0.0.1:2525', outcomes: outcomes([`m${i}@x.org`], i === 7 ? 'deferred' : 'sent') });
    }
    events.emit('end', endResult);
    const lines = out.text.trimEnd().split('\n');
    assert.equal(lines[0], 'delivering 100 recipients in 3 entries via smtp://127.0.0.1:2525');
    assert.equal(lines.length, 3, out.text); // start + at 5 s + at 10 s
    assert.match(lines[1] ?? '', /^42\/100 recipients done \(41 sent, 1 deferred, 0 failed\), 8\.3\/s, ETA 7s via smtp:\/\/127\.0\.0\.1:2525$/);
    assert.match(lines[2] ?? '', /^84\/100 recipients done/);
    assert.equal(err.text, '');
  });

  test('more planned further down the queue grows the total, with no line of its own', () => {
    const { ctx, out } = fakeContext(false);
    const events = new FlushEvents();
    let clock = 1_000_000;
    attachFlushOutput(events, ctx, { now: () => clock, intervalMs: 5_000 });
    events.emit('start', { smarthost: 's', dueEntries: 2, dueRecipients: 4, pass: 0 });
    events.emit('planned', { dueEntries: 2, dueRecipients: 4, pass: 0 });
    clock += 6_000;
    events.emit('transaction', { id: 'e1', smarthost: 's', outcomes: outcomes(['a@x.org', 'b@x.org']) });
    events.emit('end', endResult);
    const lines = out.text.trimEnd().split('\n');
    assert.equal(lines[0], 'delivering 4 recipients in 2 entries via s');
    assert.equal(lines.length, 2, out.text);
    assert.match(lines[1] ?? '', /^2\/8 recipients done/);
  });

  test('--quiet prints nothing but errors (a quarantined entry)', () => {
    const { ctx, out, err } = fakeContext(false);
    const events = new FlushEvents();
    attachFlushOutput(events, ctx, { quiet: true });
    events.emit('start', { smarthost: 's', dueEntries: 1, dueRecipients: 2, pass: 0 });
    events.emit('transaction', { id: 'e1', smarthost: 's', outcomes: outcomes(['a@x.org', 'b@x.org']) });
    events.emit('warning', 'entry e2 is busy; skipped');
    events.emit('corrupt', 'e3', 'state file of e3 is invalid: bad size');
    events.emit('end', endResult);
    assert.equal(out.text, '');
    assert.equal(err.text, 'bulkmailer: quarantined e3: state file of e3 is invalid: bad size\n');
  });

  test('--verbose prints every transaction, with the reply of each recipient not sent', () => {
    const { ctx, out } = fakeContext(false);
    const events = new FlushEvents();
    attachFlushOutput(events, ctx, { verbose: true });
    events.emit('start', { smarthost: 's', dueEntries: 1, dueRecipients: 3, pass: 0 });
    events.emit('transaction', { id: 'e1', smarthost: 's', outcomes: outcomes(['a@x.org', 'b@x.org']) });
    events.emit('transaction', {
      id: 'e1',
      smarthost: 's',
      outcomes: [{ address: 'c@x.org', kind: 'interrupted', reply: 'connection lost after the final dot', possibleDuplicate: true }],
    });
    events.emit('end', endResult);
    assert.equal(
      out.text,
      'delivering 3 recipients in 1 entry via s\n' +
        'e1: 2 sent\n' +
        'e1: 1 deferred\n' +
        '  c@x.org: interrupted (possible duplicate): connection lost after the final dot\n',
    );
  });

  test('on a terminal: a cli-progress bar with done/total, rate and smarthost; warnings above it; stopped at the end', async () => {
    const { ctx, out, err } = fakeContext(true);
    const events = new FlushEvents();
    attachFlushOutput(events, ctx, { verbose: true });
    events.emit('start', { smarthost: 'smtp://127.0.0.1:2525', dueEntries: 2, dueRecipients: 4, pass: 0 });
    // The bar draws on its own timer (10 per second): wait for its first drawing.
    await err.written(/0\/4 recipients/);
    events.emit('transaction', { id: 'e1', smarthost: 'smtp://127.0.0.1:2525', outcomes: outcomes(['a@x.org', 'b@x.org']) });
    events.emit('warning', 'entry e9 is busy; skipped');
    events.emit('start', { smarthost: 'smtp://127.0.0.1:2525', dueEntries: 1, dueRecipients: 1, pass: 1 });
    events.emit('transaction', { id: 'e2', smarthost: 'smtp://127.0.0.1:2525', outcomes: outcomes(['c@x.org', 'd@x.org', 'e@x.org']) });
    events.emit('end', endResult);
    assert.equal(out.text, '', 'the bar and its log lines go to stderr');
    assert.match(err.text, /0\/4 recipients \| [\d.]+\/s \| ETA \S+ \| smtp:\/\/127\.0\.0\.1:2525/);
    assert.match(err.text, /5\/5 recipients/, 'a later pass grows the total');
    assert.ok(err.text.includes('\u001b[?25l') && err.text.includes('\u001b[?25h'), 'cursor hidden, then restored');
    assert.ok(err.text.includes('bulkmailer: warning: entry e9 is busy; skipped\n'));
    assert.ok(err.text.includes('e1: 2 sent\n'));
    assert.ok(!/\d+\/\d+ recipients done/.test(err.text), 'no plain progress lines on a terminal');
  });
});

describe('progress output of a real flush', () => {
  let home: TempHome;
  let server: CaptureServer;
  const entries = 40;

  beforeEach(async () => {
    home = await makeTempHome();
    server = await startCaptureServer({ dataDelayMs: 15 });
    await writeConfig(home.home, { smarthost: server.url, concurrency: 2 });
    await makeLargeSpool(home.home, entries, 3);
  });
  afterEach(async () => {
    await server.close();
    await home.cleanup();
  });

  test('piped: plain lines, no escape codes, the summary last', async () => {
    const run = await runCli(['flush'], { home: home.home });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes('\u001b'), JSON.stringify(run.stdout));
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^delivering 120 recipients in 40 entries via smtp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(lines.at(-1) ?? '', /^40 messages; recipients: 120 sent, 0 deferred, 0 failed in /);
    assert.ok(lines.length <= 2 + Math.ceil(10), 'a few lines, not one per transaction');
    assert.equal(run.stderr, '');
  });

  test('--quiet: nothing at all on success; --verbose: one line per transaction', async () => {
    const quiet = await runCli(['flush', '--quiet'], { home: home.home });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, '');
    assert.equal(quiet.stderr, '');
    await makeLargeSpool(home.home, 5, 2);
    const verbose = await runCli(['flush', '--verbose'], { home: home.home });
    assert.equal(verbose.code, 0, verbose.stderr);
    const transactionLines = verbose.stdout.split('\n').filter((l) => /^\S+: 2 sent$/.test(l));
    assert.equal(transactionLines.length, 5, verbose.stdout);
  });

  test('on a pseudo-terminal: a live bar, cursor hidden while it runs and restored', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, BULKMAILER_HOME: home.home, TERM: 'xterm' };
    delete env.NO_COLOR;
    const run = await runInPty([process.execPath, BULKMAILER, 'flush'], env);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /\u2588+\u2591* \d+\/120 recipients \| [\d.]+\/s \| ETA/);
    assert.match(run.output, /\u2588{40} 120\/120 recipients/);
    const hide = run.output.indexOf('\u001b[?25l');
    const show = run.output.lastIndexOf('\u001b[?25h');
    assert.ok(hide >= 0 && show > hide, 'cursor hidden, then shown again');
    assert.match(run.output, /40 messages; recipients: 120 sent, 0 deferred, 0 failed/);
    assert.ok(run.output.indexOf('40 messages;') > show, 'the summary comes after the bar');
    assert.equal(server.messages.length, entries);
  });
});
