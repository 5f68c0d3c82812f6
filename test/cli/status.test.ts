/**
 * status / mailq, show and log against a spool with entries in every state:
 * the human views (columns, progress words, totals, last probe, colour only
 * on a terminal and never with NO_COLOR) and the JSON formats scripts rely on.
 * Real spools in temp homes, the real bin/bulkmailer as a child process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome, type TempHome } from '../support/home.js';
import { BULKMAILER, runCli } from '../support/cli.js';
import { runInPty } from '../support/pty.js';
import { makeMixedSpool, type MixedSpool } from '../support/spool-fixtures.js';
import { writeLastProbe } from '../../src/connectivity/last-probe.js';
import { DeliveryLogWriter, enqueueMessage, openSpool, type DeliveryLogRecord } from '../../src/spool/index.js';

const ESC = '\u001b[';
const env = { TZ: 'UTC' };

describe('status, show and log on a spool with entries in every state', () => {
  let home: TempHome;
  let fixture: MixedSpool;

  before(async () => {
    home = await makeTempHome();
    fixture = await makeMixedSpool(home.home);
  });
  after(() => home.cleanup());

  test('status --json keeps the documented format', async () => {
    const run = await runCli(['status', '--json'], { home: home.home, env });
    assert.equal(run.code, 0, run.stderr);
    const entries = JSON.parse(run.stdout) as Record<string, unknown>[];
    assert.deepEqual(
      entries.map((e) => e.id),
      [fixture.pending, fixture.mixed, fixture.held, fixture.bounce],
    );
    for (const e of entries) {
      assert.deepEqual(Object.keys(e), ['id', 'from', 'createdAt', 'size', 'subject', 'held', 'account', 'recipients']);
      assert.equal(e.account, 'default', 'no accounts configured: every sender uses the default account');
      for (const r of e.recipients as Record<string, unknown>[]) {
        assert.deepEqual(Object.keys(r), ['address', 'status', 'attempts', 'nextAttemptAt', 'lastReply', 'possibleDuplicate']);
      }
    }
    const mixed = entries[1] as { recipients: { address: string; status: string; nextAttemptAt: string | null; lastReply: string | null }[] };
    assert.deepEqual(
      mixed.recipients.map((r) => r.status),
      ['sent', 'sent', 'deferred', 'deferred', 'failed', 'pending'],
    );
    assert.equal(mixed.recipients[2]?.nextAttemptAt, fixture.deferredUntil);
    assert.equal(mixed.recipients[4]?.lastReply, '550 5.1.1 No such user');
    assert.equal((entries[2] as { held: boolean }).held, true);
    assert.equal((entries[3] as { from: string }).from, '');
  });

  test('status (human): a row per entry with progress words, a total line, no colour without a terminal', async () => {
    const run = await runCli(['status'], { home: home.home, env });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(ESC), 'no escape codes when stdout is not a terminal');
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID\s+AGE\s+SIZE\s+FROM\s+SUBJECT\s+PROGRESS$/);
    const row = (id: string) => lines.find((l) => l.startsWith(id)) ?? assert.fail(`no row for ${id}`);
    const until = new Date(fixture.deferredUntil);
    const hhmm = `${String(until.getUTCHours()).padStart(2, '0')}:${String(until.getUTCMinutes()).padStart(2, '0')}`;
    const sameDay = until.toISOString().slice(0, 10) === new Date().toISOString().slice(0, 10);
    assert.match(row(fixture.mixed), new RegExp(`list@example\\.org\\s+Mixed post\\s+2/6 sent, 2 deferred until ${sameDay ? '' : '\\w+ \\d+ '}${hhmm}, 1 failed$`));
    assert.match(row(fixture.mixed), /^\S+\s+2h\s+\d+ B\s/);
    assert.match(row(fixture.pending), /Pending post\s+0\/3 sent$/);
    assert.match(row(fixture.held), /news@example\.org\s+Held post\s+0\/2 sent, held$/);
    assert.match(row(fixture.bounce), /<> \(bounce\)\s+Undelivered Mail Returned t…\s+0\/1 sent, 1 deferred due now$/);
    assert.match(run.stdout, /^total: 4 entries \(\d+ B\), 12 recipients: 2 sent, 6 pending, 3 deferred, 1 failed; 1 held$/m);
    assert.match(run.stdout, /^smarthost: not probed yet/m);
  });

  test('mailq is status', async () => {
    const [a, b] = await Promise.all([runCli(['mailq', '--json'], { home: home.home, env }), runCli(['status', '--json'], { home: home.home, env })]);
    assert.equal(a.code, 0);
    assert.deepEqual(JSON.parse(a.stdout), JSON.parse(b.stdout));
  });

  test('status says what the last probe found', async () => {
    const probeHome = await makeTempHome();
    try {
      await makeMixedSpool(probeHome.home);
      const display = 'smtp://relay@127.0.0.1:2525';
      await writeLastProbe(probeHome.home, [{ smarthost: display, reachable: true, ms: 3, greeting: '220 hi', error: null }], Date.now() - 5 * 60_000);
      let run = await runCli(['status'], { home: probeHome.home, env });
      assert.match(run.stdout, /^smarthost: reachable at the last probe \(5m ago\): smtp:\/\/relay@127\.0\.0\.1:2525$/m);
      await writeLastProbe(probeHome.home, [{ smarthost: display, reachable: false, ms: 3, greeting: null, error: 'ECONNREFUSED' }]);
      run = await runCli(['status'], { home: probeHome.home, env });
      assert.match(run.stdout, /^smarthost: unreachable at the last probe \((now|\d+s ago)\): smtp:\/\/relay@127\.0\.0\.1:2525: ECONNREFUSED$/m);
    } finally {
      await probeHome.cleanup();
    }
  });

  test('colour on a terminal, none with NO_COLOR', async () => {
    const base: NodeJS.ProcessEnv = { ...process.env, TZ: 'UTC', BULKMAILER_HOME: home.home, TERM: 'xterm' };
    delete base.NO_COLOR;
    const colored = await runInPty([process.execPath, BULKMAILER, 'status'], base);
    assert.equal(colored.code, 0, colored.output);
    assert.ok(colored.output.includes(`${ESC}33m1 deferred due now`), colored.output);
    assert.ok(colored.output.includes(`${ESC}31m1 failed`), colored.output);
    const plain = await runInPty([process.execPath, BULKMAILER, 'status'], { ...base, NO_COLOR: '1' });
    assert.equal(plain.code, 0, plain.output);
    assert.ok(plain.output.includes('1 deferred due now'));
    assert.ok(!plain.output.includes(ESC), JSON.stringify(plain.output));
  });

  test('show: header summary and every recipient; prefix ids; --json', async () => {
    const run = await runCli(['show', fixture.mixed.slice(0, 12)], { home: home.home, env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^id\\s+${fixture.mixed}$`, 'm'));
    assert.match(run.stdout, /^from\s+list@example\.org$/m);
    assert.match(run.stdout, /^subject\s+Mixed post$/m);
    assert.match(run.stdout, /^message-id\s+<mixed@example\.org>$/m);
    assert.match(run.stdout, /^size\s+\d+ B \(\d+ bytes\)$/m);
    assert.match(run.stdout, /^created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(2h ago\)$/m);
    assert.match(run.stdout, /^held\s+no$/m);
    assert.match(run.stdout, /^s1@example\.org\s+sent\s+1\s+-\s+250 2\.0\.0 Ok: queued$/m);
    assert.match(run.stdout, /^d1@example\.net\s+deferred\s+2\s+(?:[A-Z][a-z]{2} \d{1,2} (?:\d{4} )?)?\d\d:\d\d \(in 1h\)\s+451 4\.7\.1 Greylisted, try later$/m);
    assert.match(run.stdout, /^f1@example\.com\s+failed\s+1\s+-\s+550 5\.1\.1 No such user$/m);
    assert.match(run.stdout, /^p1@example\.org\s+pending\s+0\s+due now\s+-$/m);

    const held = await runCli(['show', fixture.held], { home: home.home, env });
    assert.match(held.stdout, /^held\s+yes/m);
    assert.match(held.stdout, /^h1@example\.org\s+pending\s+0\s+held\s+-$/m);

    const json = await runCli(['show', fixture.mixed, '--json'], { home: home.home, env });
    assert.equal(json.code, 0);
    const entry = JSON.parse(json.stdout) as Record<string, unknown> & { recipients: Record<string, unknown>[] };
    assert.equal(entry.id, fixture.mixed);
    assert.equal(entry.kind, 'message');
    assert.equal(entry.messageId, '<mixed@example.org>');
    assert.equal(entry.recipients.length, 6);
    assert.deepEqual(Object.keys(entry.recipients[0] ?? {}), ['address', 'status', 'attempts', 'nextAttemptAt', 'lastReply', 'possibleDuplicate', 'lastAttemptAt']);
  });

  test('show: an entry created less than a second ago (or, after the clock stepped back, later) is "now", never "now ago"', async () => {
    const fresh = await makeTempHome();
    try {
      const spool = await openSpool(fresh.home);
      const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.org'], message: 'Subject: x\n\ny\n', now: Date.now() + 30 * 60_000 });
      const run = await runCli(['show', id], { home: fresh.home, env });
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stdout, /now ago/);
      assert.match(run.stdout, /^created\s+\S+ \S+ \((now|in \d+m)\)$/m);
    } finally {
      await fresh.cleanup();
    }
  });

  test('show: an unknown id exits 65 "no such entry"; an ambiguous prefix exits 64', async () => {
    const unknown = await runCli(['show', 'nosuchid'], { home: home.home, env });
    assert.equal(unknown.code, 65);
    assert.match(unknown.stderr, /no such entry: nosuchid/);
    const shared = commonPrefix([fixture.pending, fixture.mixed, fixture.held, fixture.bounce]);
    const ambiguous = await runCli(['show', shared], { home: home.home, env });
    assert.equal(ambiguous.code, 64, ambiguous.stderr);
    assert.match(ambiguous.stderr, /matches 4 entries/);
  });

  test('log: final outcomes, --since, --json, a torn line skipped', async () => {
    const logHome = await makeTempHome();
    try {
      const now = Date.now();
      const record = (minutesAgo: number, recipient: string, status: 'sent' | 'failed', reply: string): DeliveryLogRecord => ({
        time: new Date(now - minutesAgo * 60_000).toISOString(),
        id: '0mx1aaaaaaaaaaaaa',
        from: 'list@example.org',
        recipient,
        status,
        attempts: 1,
        reply,
        expired: false,
        smarthost: 'smtp://127.0.0.1:2525',
        messageId: '<m@example.org>',
      });
      const { openSpool } = await import('../../src/spool/index.js');
      const spool = await openSpool(logHome.home);
      const log = await DeliveryLogWriter.open(spool);
      log.write([
        record(3 * 24 * 60, 'old@example.org', 'sent', '250 ok'),
        record(30, 'alice@example.org', 'sent', '250 2.0.0 Ok: queued'),
        record(10, 'bob@example.org', 'failed', '550 5.1.1 No such user'),
      ]);
      await log.close();
      await fs.appendFile(path.join(logHome.home, 'log', 'deliveries.jsonl'), '{"time":"2025-01-0');

      const all = await runCli(['log'], { home: logHome.home, env });
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  sent    old@example\.org  0mx1aaaaaaaaaaaaa  250 ok$/m);
      assert.match(all.stdout, /failed  bob@example\.org  0mx1aaaaaaaaaaaaa  550 5\.1\.1 No such user$/m);
      assert.match(all.stdout, /^3 outcomes: 2 sent, 1 failed$/m);
      assert.match(all.stderr, /skipped 1 unreadable line/);

      const recent = await runCli(['log', '--since', '1h', '--json'], { home: logHome.home, env });
      assert.equal(recent.code, 0);
      const lines = recent.stdout.trim().split('\n').map((l) => JSON.parse(l) as DeliveryLogRecord);
      assert.deepEqual(lines.map((l) => l.recipient), ['alice@example.org', 'bob@example.org']);
      assert.equal(lines[1]?.reply, '550 5.1.1 No such user');

      const bad = await runCli(['log', '--since', 'yesterday'], { home: logHome.home, env });
      assert.equal(bad.code, 64);

      const empty = await runCli(['log'], { home: home.home, env });
      assert.equal(empty.code, 0);
      assert.match(empty.stdout, /^no delivery outcomes$/m);
    } finally {
      await logHome.cleanup();
    }
  });
});

function commonPrefix(ids: string[]): string {
  let prefix = ids[0] ?? '';
  for (const id of ids) while (!id.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}
