/**
 * The core promises, black-box: real `bulkmailer flush` processes against a
 * real SMTP smarthost on 127.0.0.1, real spools in temp dirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { collect, runCli, spawnCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState, statePath, instanceLockPath } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';
import { formatClock } from '../../src/text.js';

function message(subject: string, body = 'Hello list.\r\n.leading dot line\r\n'): string {
  return `From: list@example.org\r\nTo: members@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}`;
}

function members(n: number, prefix = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@d${i % 7}.example.net`);
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, config: Record<string, unknown> = {}) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  return { home, spool, config: (extra: Record<string, unknown>) => writeConfig(home, { ...config, ...extra }) };
}

test('round trip: envelope and bytes reach the smarthost, the entry leaves the spool, the log says so', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const body = message('round trip');
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org', 'b@y.org'], message: body });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /1 message; recipients: 2 sent, 0 deferred, 0 failed/);
  assert.equal(server.messages.length, 1);
  assert.equal(server.messages[0]?.from, 'list@example.org');
  assert.deepEqual(server.messages[0]?.to, ['a@x.org', 'b@y.org']);
  assert.equal(server.messages[0]?.raw.toString(), body);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  const log = (await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(log.map((r) => [r.id, r.recipient, r.status]), [[id, 'a@x.org', 'sent'], [id, 'b@y.org', 'sent']]);
  // An empty queue: exit 0, no network needed.
  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing to deliver/);
});

test('smarthost down: exit 75 at once, nothing counted; back up: everything delivered', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url, timeouts: { probe: '2s' } });
  await server.stop();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await enqueueMessage(spool, { from: 'list@example.org', recipients: members(3), message: message(`down ${i}`) })).id);
  const before = await Promise.all(ids.map((id) => fs.readFile(statePath(spool, id), 'utf8')));
  const down = await runCli(['flush'], { home });
  assert.equal(down.code, 75, down.stderr);
  assert.match(down.stderr, /smarthost unreachable .*ECONNREFUSED.*15 recipients wait, nothing attempted/);
  // What cron runs: quiet means quiet (the exit code says offline), so cron mails nobody every five minutes.
  const quiet = await runCli(['flush', '--quiet'], { home });
  assert.equal(quiet.code, 75);
  assert.equal(quiet.stdout + quiet.stderr, '');
  const after = await Promise.all(ids.map((id) => fs.readFile(statePath(spool, id), 'utf8')));
  assert.deepEqual(after, before, 'state files untouched: no attempt, no backoff, no aging');
  await server.start();
  const up = await runCli(['flush'], { home });
  assert.equal(up.code, 0, up.stderr);
  assert.equal(server.messages.length, 5);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a partial batch resumes: the connection drops mid-DATA, the next flush sends only the rest', async (t) => {
  const dropping = await startCaptureServer({ dropAfter: 1, dropBeforeDot: true });
  const { home, spool, config } = await setup(t);
  await config({ smarthost: dropping.url, maxRecipientsPerTransaction: 100 });
  const list = members(300);
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: list, message: message('partial') });
  const first = await runCli(['flush'], { home });
  assert.equal(first.code, 75, first.stderr);
  const port = dropping.port;
  const firstDelivered = dropping.messages.flatMap((m) => m.to);
  await dropping.close();
  assert.equal(firstDelivered.length, 100);
  const state = await readEntryState(spool, id);
  assert.equal(state?.recipients.filter((r) => r.status === 'sent').length, 100);
  // The flusher reconnects after the drop and tries the last chunk, which is cut too.
  const broken = state?.recipients.filter((r) => r.status === 'deferred') ?? [];
  assert.equal(broken.length, 200, 'interrupted chunks are deferred, due again at once');
  assert.ok(broken.every((r) => r.nextAttemptAt === null && r.attempts === 1 && /connection lost/.test(r.lastReply ?? '')));

  const healthy = await startCaptureServer({}, port);
  t.after(() => healthy.close());
  const second = await runCli(['flush'], { home });
  assert.equal(second.code, 0, second.stderr);
  const secondDelivered = healthy.messages.flatMap((m) => m.to);
  assert.equal(secondDelivered.length, 200);
  assert.deepEqual([...firstDelivered, ...secondDelivered].sort(), [...list].sort(), 'each member exactly once');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a drop after the final dot is recorded as a possible duplicate', async (t) => {
  const server = await startCaptureServer({ dropAfter: 0 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('dup') });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 75);
  const state = await readEntryState(spool, id);
  assert.match(state?.recipients[0]?.lastReply ?? '', /possible duplicate/);
});

test('4xx and 5xx per recipient: backoff recorded, a DSN goes to the sender on the same flush', async (t) => {
  const server = await startCaptureServer({
    rcptReply: (address) =>
      address.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : address.startsWith('busy') ? { code: 451, message: '4.3.0 try later' } : null,
  });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const { id } = await enqueueMessage(spool, {
    from: 'owner@example.org',
    recipients: ['ok@x.org', 'gone@x.org', 'busy@x.org'],
    message: message('mixed'),
  });
  const started = Date.now();
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 75, 'a recipient was deferred in this run');
  const state = await readEntryState(spool, id);
  const byAddress = new Map(state?.recipients.map((r) => [r.address, r]));
  assert.equal(byAddress.get('ok@x.org')?.status, 'sent');
  assert.equal(byAddress.get('gone@x.org')?.status, 'failed');
  assert.equal(byAddress.get('gone@x.org')?.dsnQueued, true);
  const busy = byAddress.get('busy@x.org');
  assert.equal(busy?.status, 'deferred');
  assert.equal(busy?.attempts, 1);
  const wait = Date.parse(busy?.nextAttemptAt ?? '') - Date.parse(busy?.lastAttemptAt ?? '');
  assert.equal(wait, 5 * 60_000, 'default backoff start: 5 minutes');
  assert.ok(Date.parse(busy?.lastAttemptAt ?? '') >= started - 1000);
  // The summary keeps the bounce report apart from the user's message and says when the rest goes.
  const until = formatClock(busy?.nextAttemptAt ?? '', Date.now());
  assert.match(
    result.stdout,
    new RegExp(`^1 message; recipients: 1 sent, 1 deferred, 1 failed; 1 bounce report to senders queued, 1 bounce report delivered; 1 recipient deferred until ${until} in `, 'm'),
  );

  const dsn = server.messages.find((m) => m.from === '');
  assert.ok(dsn, 'the DSN was delivered with the null sender');
  assert.deepEqual(dsn.to, ['owner@example.org']);
  const text = dsn.raw.toString();
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(text, /Final-Recipient: rfc822; gone@x.org\r\nAction: failed\r\nStatus: 5\.1\.1/);
  assert.match(text, /Subject: mixed/, 'the original headers are returned');
  assert.doesNotMatch(text, /busy@x.org/, 'only final failures are reported');

  // `retry` makes busy@ due now; it is then delivered.
  const retry = await runCli(['retry', id], { home });
  assert.equal(retry.code, 0, retry.stderr);
  server.messages.length = 0;
  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 75);
  assert.equal(server.messages.length, 0, 'busy@ is still refused');
  assert.equal((await readEntryState(spool, id))?.recipients.find((r) => r.address === 'busy@x.org')?.attempts, 2);
});

test('no DSN is made for a bounce: a failed null-sender entry just leaves', async (t) => {
  const server = await startCaptureServer({ rcptReply: () => ({ code: 550, message: 'no' }) });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  await enqueueMessage(spool, { from: '', recipients: ['x@y.org'], message: message('bounce') });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.equal(server.transactions, 0);
});

test('two flushes started together: one delivers, the other exits 0 at once', async (t) => {
  // Each message takes the smarthost 1.5 s: the first flush outlives the second's start by far.
  const server = await startCaptureServer({ dataDelayMs: 1_500 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url, concurrency: 1 });
  for (let i = 0; i < 4; i++) await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message(`pair ${i}`) });
  const first = spawnCli(['flush'], { home });
  const firstDone = collect(first);
  // Wait until the first holds the lock, then start the second.
  while (!(await fs.lstat(instanceLockPath(spool)).then(() => true, () => false))) await new Promise((r) => setTimeout(r, 10));
  const second = await runCli(['flush'], { home });
  assert.equal(second.code, 0);
  assert.match(second.stdout, new RegExp(`another flush is running \\(pid ${first.pid}\\)`));
  // It did not wait for the first: that one is still delivering.
  assert.ok(server.messages.length < 4, `the second returned only after ${server.messages.length} of 4 deliveries`);
  assert.equal(first.exitCode, null, 'the first flush still runs');
  const firstResult = await firstDone;
  assert.equal(firstResult.code, 0, firstResult.stderr);
  assert.equal(server.messages.length, 4, 'no double delivery');
});

test('a stale lock left by a dead flusher is taken over', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const dead = spawn(process.execPath, ['-e', '0']);
  await once(dead, 'exit');
  const { readFileSync } = await import('node:fs');
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  await fs.symlink(JSON.stringify({ pid: dead.pid, boot, since: new Date().toISOString() }), instanceLockPath(spool));
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('stale') });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(server.messages.length, 1);
});

test('kill -9 in the middle of a 200-message drain: the next flush completes it, duplicates only from transactions in flight', async (t) => {
  const server = await startCaptureServer({ dataDelayMs: 5 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  const concurrency = 4;
  await config({ smarthost: server.url, concurrency });
  const recipients = ['a@x.org', 'b@y.org', 'c@z.org'];
  for (let i = 0; i < 200; i++) await enqueueMessage(spool, { from: 'list@example.org', recipients, message: message(`drain ${i}`) });
  const child = spawnCli(['flush', '--quiet'], { home });
  await server.waitForMessages(60);
  child.kill('SIGKILL');
  const [, signal] = await once(child, 'exit');
  assert.equal(signal, 'SIGKILL');
  const atKill = server.messages.length;
  assert.ok(atKill < 200, 'killed mid-drain');
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  const bySubject = new Map<string, number>();
  for (const m of server.messages) {
    const subject = /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1] ?? '';
    bySubject.set(subject, (bySubject.get(subject) ?? 0) + 1);
    assert.deepEqual(m.to, recipients);
  }
  assert.equal(bySubject.size, 200, 'every message reached every recipient at least once');
  const duplicates = [...bySubject.values()].filter((n) => n > 1).length;
  assert.ok(duplicates <= concurrency, `duplicates (${duplicates}) only from the ${concurrency} transactions in flight`);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('enqueues from several processes during a flush: distinct ids, all delivered', async (t) => {
  const server = await startCaptureServer({ dataDelayMs: 2 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url, concurrency: 3 });
  for (let i = 0; i < 30; i++) await enqueueMessage(spool, { from: 'list@example.org', recipients: ['early@x.org'], message: message(`early ${i}`) });
  const flush = spawnCli(['flush', '--quiet'], { home });
  const flushDone = collect(flush);
  const writers = Array.from({ length: 4 }, async (_, w) => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await runCli(['enqueue', '-f', 'list@example.org', `late${w}@x.org`], { home, input: message(`late ${w}-${i}`) });
      assert.equal(result.code, 0, result.stderr);
      ids.push(result.stdout.trim());
    }
    return ids;
  });
  const ids = (await Promise.all(writers)).flat();
  assert.equal(new Set(ids).size, 20, 'ids are distinct');
  const flushed = await flushDone;
  assert.equal(flushed.code, 0, flushed.stderr);
  // Whatever arrived after the flush's last pass goes with the next one.
  const next = await runCli(['flush'], { home });
  assert.equal(next.code, 0, next.stderr);
  assert.equal(server.messages.length, 50);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a corrupt state file is quarantined with a warning and the rest is delivered', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const bad = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('bad') });
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('good') });
  await fs.writeFile(statePath(spool, bad.id), 'not json at all');
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`quarantined ${bad.id}`));
  assert.equal(server.messages.length, 1);
  assert.ok((await fs.readdir(spool.corrupt)).some((f) => f.startsWith(bad.id)));
});

test('a missing smarthost or a broken config is a config error (78), not a crash', async (t) => {
  const { home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('cfg') });
  const none = await runCli(['flush'], { home });
  assert.equal(none.code, 78);
  assert.match(none.stderr, /no smarthost configured/);
  await fs.writeFile(path.join(home, 'config.json'), '{"smarthost": "smtp://x", "concurrency": "many"}');
  const bad = await runCli(['flush'], { home });
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /concurrency/);
  await fs.writeFile(path.join(home, 'config.json'), '{"smarthost": ');
  const torn = await runCli(['flush'], { home });
  assert.equal(torn.code, 78);
  assert.match(torn.stderr, /not valid JSON/);
  assert.equal((await listStateFileIdsIncludingFinished(spool)).length, 1, 'the queue is intact');
});

test('crash points in a flush: killed after the dot resends only that transaction; killed after recording resends nothing', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  for (const [point, expectedDuplicates] of [
    ['flush-after-data', 2],
    ['flush-after-state-write', 0],
  ] as const) {
    const { home, spool, config } = await setup(t);
    await config({ smarthost: server.url, concurrency: 1, maxRecipientsPerTransaction: 2 });
    server.messages.length = 0;
    const list = members(5, point);
    await enqueueMessage(spool, { from: 'list@example.org', recipients: list, message: message(point) });
    const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: point } });
    assert.equal(crashed.signal, 'SIGKILL', point);
    assert.equal(server.messages.length, 1, `${point}: one transaction went out before the crash`);
    const resumed = await runCli(['flush'], { home });
    assert.equal(resumed.code, 0, resumed.stderr);
    const received = server.messages.flatMap((m) => m.to);
    assert.deepEqual([...new Set(received)].sort(), [...list].sort(), `${point}: everyone received it`);
    assert.equal(received.length - list.length, expectedDuplicates, `${point}: duplicates only from the unrecorded transaction`);
    assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  }
});

test('a smarthost whose certificate fails verification: held with exit 76 (it will not fix itself), the reason shown, nothing counted; trusted via tls.caFile it works', async (t) => {
  const fixtures = path.join(import.meta.dirname, '..', 'fixtures');
  const key = await fs.readFile(path.join(fixtures, 'localhost-key.pem'));
  const cert = await fs.readFile(path.join(fixtures, 'localhost-cert.pem'));
  const server = await startCaptureServer({ server: { key, cert, disabledCommands: [] } });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url });
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('tls') });
  const before = await fs.readFile(statePath(spool, id), 'utf8');
  const untrusted = await runCli(['flush'], { home });
  assert.equal(untrusted.code, 76, untrusted.stderr);
  assert.match(untrusted.stderr, /held: TLS with the smarthost failed: .*certificate/i);
  assert.equal(await fs.readFile(statePath(spool, id), 'utf8'), before, 'no attempt counted');
  assert.equal(server.messages.length, 0);
  await config({ smarthost: server.url, tls: { caFile: path.join(fixtures, 'localhost-cert.pem') } });
  const trusted = await runCli(['flush'], { home });
  assert.equal(trusted.code, 0, trusted.stderr);
  assert.equal(server.messages.length, 1);
});

test('a reused connection that died before the transaction started is reopened; no attempt is counted', async (t) => {
  // The second MAIL FROM on the first connection is met by a closed socket, no reply.
  const server = await startCaptureServer({ cutAtMailFrom: (n) => n === 1 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url, concurrency: 1 });
  for (let i = 0; i < 3; i++) await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@x.org`], message: message(`reuse ${i}`) });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(server.messages.length, 3);
  assert.equal(server.connections, 3, 'the probe, the first session, one reconnect');
  const log = (await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(log.map((r) => r.attempts), [1, 1, 1], 'the broken start was not an attempt');
});

test('the smarthost going away mid-drain: exit 75, the result says so, recipients never tried are untouched', async (t) => {
  const server = await startCaptureServer({ dataDelayMs: 20 });
  t.after(() => server.close());
  const { home, spool, config } = await setup(t);
  await config({ smarthost: server.url, concurrency: 1, timeouts: { connect: '2s', greeting: '2s' } });
  for (let i = 0; i < 30; i++) await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@x.org`], message: message(`lost ${i}`) });
  const events = new FlushEvents();
  void server.waitForMessages(5).then(() => server.stop());
  const result = await flushQueue({ home, events });
  assert.equal(result.exitCode, 75);
  assert.equal(result.outcome, 'pending');
  assert.equal(result.smarthostLost, true);
  const states = await Promise.all((await listStateFileIdsIncludingFinished(spool)).map((id) => readEntryState(spool, id)));
  const untouched = states.filter((s) => s?.recipients[0]?.attempts === 0).length;
  assert.ok(untouched >= 20, `most entries were never tried and carry no attempt (${untouched})`);
  assert.ok(states.every((s) => (s?.recipients[0]?.attempts ?? 0) <= 1));
});

test('flush --quiet still says what needs a person: a broken config.json, exit 78', async (t) => {
  const { home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('quiet error') });
  await fs.writeFile(path.join(home, 'config.json'), '{ broken');
  const result = await runCli(['flush', '--quiet'], { home });
  assert.equal(result.code, 78);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /config/);
});
