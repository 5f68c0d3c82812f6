/**
 * Refusals about the account hold the account (promise 6), black-box where
 * it matters: real `bulkmailer flush` processes against a real smarthost on
 * 127.0.0.1 that answers like Gmail at its daily limit, refuses AUTH,
 * refuses the sender, or fails TLS. Nothing fails, no DSN is made, no
 * attempt is counted; status, doctor and probe say why; `retry --all`, the
 * end of the provider's window or a config change resume.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCaptureServer } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, queuePosts } from '../support/spool-fixtures.js';
import { runCli } from '../support/cli.js';
import { listStateFileIdsIncludingFinished, readAccountHold, readEntryState, statePath, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const GMAIL_LIMIT = { code: 550, message: '5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits go to https://support.google.com/a/answer/166852 - gsmtp' };

/** Every entry still queued: recipients untouched (pending, no attempt, no reply), and no DSN among them. */
async function assertUntouched(spool: Spool, expectedEntries: number): Promise<void> {
  const ids = await listStateFileIdsIncludingFinished(spool);
  assert.equal(ids.length, expectedEntries);
  for (const id of ids) {
    const state = await readEntryState(spool, id);
    assert.ok(state !== null);
    assert.notEqual(state.kind, 'dsn', 'no bounce was made');
    for (const r of state.recipients) {
      assert.deepEqual([r.status, r.attempts, r.lastReply, r.nextAttemptAt], ['pending', 0, null, null], `${id} ${r.address}`);
    }
  }
}

test('Gmail daily limit after 20 messages over 5 connections: nothing failed, no DSN, paused; retry --all resumes; nothing sent twice', async (t) => {
  let limited = true;
  const server = await startCaptureServer({
    dataReply: () => (limited && server.messages.length >= 20 ? GMAIL_LIMIT : null),
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 5 });
  await queuePosts(spool, 50);

  const first = await runCli(['flush'], { home });
  assert.equal(first.code, 75, first.stderr);
  assert.match(first.stderr, /account default paused by the provider: sending quota reached: 550 5\.4\.5 Daily user sending limit exceeded/);
  assert.match(first.stderr, /resumes at (\w+ \d+ (\d{4} )?)?\d\d:\d\d/);
  assert.equal(server.messages.length, 20);
  await assertUntouched(spool, 30);
  const log = (await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual([...new Set(log.map((r) => r.status))], ['sent']);
  assert.equal(log.length, 20);
  const hold = readAccountHold(spool, 'default');
  assert.equal(hold?.kind, 'quota');
  assert.equal(hold?.rule, 'gmail-daily-limit');

  // Paused: the next flush does not even connect.
  const connections = server.connections;
  const again = await runCli(['flush', '--quiet'], { home });
  assert.equal(again.code, 75);
  assert.equal(again.stdout + again.stderr, '', '--quiet: a provider\'s pause is no news for cron (the exit code says it)');
  const loud = await runCli(['flush'], { home });
  assert.equal(loud.code, 75);
  assert.match(loud.stderr, /paused by the provider/);
  assert.equal(server.connections, connections);

  const status = await runCli(['status'], { home });
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^account default paused by the provider: sending quota reached: 550 5\.4\.5 .*resumes at (\w+ \d+ (\d{4} )?)?\d\d:\d\d/m);
  const doctor = await runCli(['doctor', '--json'], { home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
  const check = (JSON.parse(doctor.stdout) as { checks: { id: string; status: string; detail: string }[] }).checks.find((c) => c.id === 'account.hold');
  assert.equal(check?.status, 'warn');
  assert.match(check?.detail ?? '', /550 5\.4\.5/);

  limited = false;
  const retry = await runCli(['retry', '--all'], { home });
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /lifted the pause of account default/);
  assert.equal(readAccountHold(spool, 'default'), null);
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(server.messages.length, 50);
  assert.deepEqual([...server.deliveriesByRecipient().values()].filter((n) => n !== 1), [], 'nothing sent twice');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a pause ends by itself when the provider\'s window is over (injected clock)', async (t) => {
  let limited = true;
  const server = await startCaptureServer({ rcptReply: () => (limited ? { code: 454, message: 'Throttling failure: Daily message quota exceeded.' } : null) });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, pauses: { quota: '30m' } });
  await queuePosts(spool, 3);
  const t0 = Date.parse('2026-11-30T10:00:00Z');
  const held = await flushQueue({ home, now: () => t0 });
  assert.equal(held.outcome, 'held');
  assert.equal(held.exitCode, 75);
  assert.equal(held.hold?.kind, 'quota');
  assert.equal(held.remaining, 3);
  await assertUntouched(spool, 3);

  const connections = server.connections;
  assert.equal(held.hold?.until, new Date(t0 + 30 * 60_000).toISOString(), 'pauses.quota sets the length');
  const during = await flushQueue({ home, now: () => t0 + 29 * 60_000 });
  assert.equal(during.outcome, 'held');
  assert.equal(server.connections, connections, 'not contacted during the pause');

  limited = false;
  const after = await flushQueue({ home, now: () => t0 + 31 * 60_000 });
  assert.equal(after.outcome, 'done');
  assert.equal(after.sent, 3);
  assert.equal(readAccountHold(spool, 'default'), null);
});

test('AUTH refused: mail held (exit 77), shown by status and doctor, nothing counted; fixing the password resumes', async (t) => {
  let password = 'right-password';
  const server = await startCaptureServer({
    server: {
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'owner' && auth.password === password) callback(null, { user: 'owner' });
        else callback(Object.assign(new Error('5.7.8 Username and Password not accepted'), { responseCode: 535 }));
      },
    },
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: `smtp://owner:wrong-password@127.0.0.1:${server.port}` });
  const ids = await queuePosts(spool, 3);
  const before = await Promise.all(ids.map((id) => fs.readFile(statePath(spool, id), 'utf8')));

  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 77, flush.stderr);
  assert.match(flush.stderr, /account default held: the smarthost refused authentication: .*refused authentication as owner: 535 5\.7\.8/);
  assert.doesNotMatch(flush.stderr + flush.stdout, /wrong-password/);
  const after = await Promise.all(ids.map((id) => fs.readFile(statePath(spool, id), 'utf8')));
  assert.deepEqual(after, before, 'state files untouched');
  assert.equal(readAccountHold(spool, 'default')?.kind, 'auth');

  const status = await runCli(['status'], { home });
  assert.match(status.stdout, /^account default held: the smarthost refused authentication: .*needs you/m);
  const doctor = await runCli(['doctor', '--json'], { home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
  const check = (JSON.parse(doctor.stdout) as { checks: { id: string; status: string; fix: string }[] }).checks.find((c) => c.id === 'account.hold');
  assert.equal(check?.status, 'fail');
  assert.match(check?.fix ?? '', /password/);
  const probe = await runCli(['probe'], { home });
  assert.match(probe.stdout, /^account default held: the smarthost refused authentication/m);

  // A second flush does not knock on the door again with the same wrong password.
  const connections = server.connections;
  const quiet = await runCli(['flush', '--quiet'], { home });
  assert.equal(quiet.code, 77);
  assert.match(quiet.stderr, /refused authentication/, '--quiet still says what needs the user');
  assert.equal(server.connections, connections);

  // Fixing the config is enough: the hold was for the old settings.
  password = 'new-password';
  await writeConfig(home, { smarthost: `smtp://owner:new-password@127.0.0.1:${server.port}` });
  const fixed = await runCli(['flush'], { home });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(server.messages.length, 3);
  assert.equal(readAccountHold(spool, 'default'), null);
});

test('MAIL FROM refused: held (exit 77), no bounce per recipient; retry --all resumes', async (t) => {
  let refuse = true;
  const server = await startCaptureServer({
    mailFromReply: (sender) => (refuse ? { code: 553, message: `5.7.1 <${sender}>: Sender address rejected: not owned by user owner` } : null),
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url });
  await queuePosts(spool, 4, (i) => [`a${i}@x.example`, `b${i}@y.example`]);
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 77, flush.stderr);
  assert.match(flush.stderr, /held: the smarthost refused the sender \(MAIL FROM\): 553 5\.7\.1 <list@example\.org>: Sender address rejected/);
  await assertUntouched(spool, 4);
  refuse = false;
  assert.equal((await runCli(['retry', '--all'], { home })).code, 0);
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(server.messages.length, 4);
});

test('a certificate that does not verify (STARTTLS): held with exit 76, not retried in silence as "unreachable"', async (t) => {
  const server = await startCaptureServer({
    server: {
      disabledCommands: [],
      key: await fs.readFile(path.join(FIXTURES, 'localhost-key.pem')),
      cert: await fs.readFile(path.join(FIXTURES, 'localhost-cert.pem')),
    },
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url });
  await queuePosts(spool, 2);
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 76, flush.stderr);
  assert.match(flush.stderr, /account default held: TLS with the smarthost failed: TLS with smtp:\/\/127\.0\.0\.1:\d+ failed: .*(certificate|self[- ]signed)/i);
  assert.equal(readAccountHold(spool, 'default')?.kind, 'tls');
  await assertUntouched(spool, 2);
  // Trusting the certificate (a config change) lifts the hold.
  await writeConfig(home, { smarthost: server.url.replace('127.0.0.1', 'localhost'), tls: { caFile: path.join(FIXTURES, 'localhost-cert.pem') } });
  const fixed = await runCli(['flush'], { home });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(server.messages.length, 2);
});

test('a smarthost name that does not resolve while the internet answers is held (68); offline it is only offline (75)', async (t) => {
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: 'smtp://smtp.no-such-provider.invalid:587' });
  await queuePosts(spool, 2);
  const offline = await flushQueue({ home, isOnline: async () => false });
  assert.equal(offline.outcome, 'offline');
  assert.equal(offline.exitCode, 75);
  assert.equal(readAccountHold(spool, 'default'), null);
  const held = await flushQueue({ home, isOnline: async () => true });
  assert.equal(held.outcome, 'held');
  assert.equal(held.exitCode, 68);
  assert.equal(held.hold?.kind, 'dns');
  assert.match(held.hold?.reply ?? '', /smtp\.no-such-provider\.invalid:587: host name does not resolve \(ENOTFOUND\)/);
  await assertUntouched(spool, 2);
});

test('accountReplies from the config: a provider\'s own wording pauses the account too', async (t) => {
  const server = await startCaptureServer({ rcptReply: () => ({ code: 451, message: '4.3.0 slow down, friend' }) });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url });
  await queuePosts(spool, 1);
  // Without the rule it is an ordinary 4xx: deferred, one attempt counted.
  const plain = await flushQueue({ home });
  assert.equal(plain.outcome, 'pending');
  assert.equal(plain.deferred, 1);
  await runCli(['retry', '--all'], { home });
  await queuePosts(spool, 1);
  await writeConfig(home, { smarthost: server.url, accountReplies: ['throttle:^451 .*slow down'] });
  const held = await flushQueue({ home });
  assert.equal(held.outcome, 'held');
  assert.equal(held.hold?.kind, 'throttle');
  assert.equal(held.hold?.rule, 'config-0');
  const states = await Promise.all((await listStateFileIdsIncludingFinished(spool)).map((id) => readEntryState(spool, id)));
  assert.deepEqual(states.map((st) => st?.recipients[0]?.attempts).sort(), [0, 1], 'the held transaction counted nothing');
});
