/**
 * Delay warnings (issue 11, item 11), end to end: a real `bulkmailer flush`
 * against a real smarthost on 127.0.0.1 that keeps deferring one recipient.
 * Once the recipient's retry time reaches `delayWarning`, the sender gets
 * one RFC 3464 report with Action: delayed, recorded in the state file so
 * no second one follows; never for a bounce; `delayWarning 0` turns it off;
 * a crash after queueing it loses nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState, writeEntryState, type Spool } from '../../src/spool/index.js';

const HOUR = 3_600_000;

function greylisting(): Promise<CaptureServer> {
  return startCaptureServer({ rcptReply: (a) => (a.startsWith('slow') ? { code: 451, message: '4.7.1 Greylisted, try later' } : null) });
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, server: CaptureServer, config: Record<string, unknown> = {}) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { smarthost: server.url, ...config });
  return { home, spool: await openSpool(home) };
}

/** An entry whose `slow` recipient has been retried for `ageMs` and is due now. */
async function waitingEntry(spool: Spool, ageMs: number, from = 'list@example.org') {
  const { id, state } = await enqueueMessage(spool, {
    from,
    kind: from === '' ? 'dsn' : 'message',
    recipients: ['ok@x.org', 'slow@y.org'],
    message: `From: list@example.org\r\nTo: members@example.org\r\nSubject: Weekly news\r\nMessage-ID: <news@example.org>\r\n\r\nHello.\r\n`,
    subject: 'Weekly news',
  });
  const lastAttemptAt = new Date(Date.now() - HOUR).toISOString();
  await writeEntryState(spool, {
    ...state,
    recipients: state.recipients.map((r) =>
      r.address.startsWith('slow')
        ? { ...r, status: 'deferred', attempts: 7, lastAttemptAt, nextAttemptAt: null, lastReply: '451 4.7.1 Greylisted, try later', retryAgeMs: ageMs }
        : r,
    ),
  });
  return id;
}

const warnings = (server: CaptureServer) => server.messages.filter((m) => /^Subject: Delayed Mail/m.test(m.raw.toString()));

test('after delayWarning of retry time the sender gets one Action: delayed report listing who still waits, and only one', async (t) => {
  const server = await greylisting();
  t.after(() => server.close());
  const { home, spool } = await setup(t, server);
  // 3h30m of retry time so far; this attempt adds up to an hour (the backoff): over the default 4h.
  const id = await waitingEntry(spool, 3.5 * HOUR);
  const first = await runCli(['flush'], { home });
  assert.equal(first.code, 75, first.stderr);
  const [warning, ...more] = warnings(server);
  assert.ok(warning, 'a delay warning reached the smarthost');
  assert.equal(more.length, 0);
  assert.equal(warning.from, '', 'sent with the null sender');
  assert.deepEqual(warning.to, ['list@example.org']);
  const text = warning.raw.toString();
  assert.match(text, /^Subject: Delayed Mail \(still being retried\) \(Weekly news\)\r$/m);
  assert.match(text, /THIS IS A WARNING ONLY/);
  assert.match(text, /could not be delivered for 4h\r\n/);
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(text, /Final-Recipient: rfc822; slow@y\.org\r\nAction: delayed\r\nStatus: 4\.7\.1\r\n/);
  assert.match(text, /<slow@y\.org>: 451 4\.7\.1 Greylisted, try later/);
  assert.doesNotMatch(text, /Final-Recipient: rfc822; ok@x\.org/, 'a recipient already delivered is not listed');
  assert.match(text, /Subject: Weekly news/, 'the original headers are attached');
  assert.equal((await readEntryState(spool, id))?.delayWarned, true, 'recorded in the state file');

  // Tried again (and deferred again): no second warning.
  assert.equal((await runCli(['retry', id], { home })).code, 0);
  const second = await runCli(['flush'], { home });
  assert.equal(second.code, 75, second.stderr);
  assert.equal(warnings(server).length, 1);
  assert.equal((await readEntryState(spool, id))?.recipients[1]?.attempts, 9, 'it was tried again');
});

test('no delay warning below the threshold, for a bounce (null sender), or with delayWarning 0', async (t) => {
  const server = await greylisting();
  t.after(() => server.close());
  const young = await setup(t, server);
  const youngId = await waitingEntry(young.spool, 60_000); // 1 minute + at most an hour: under 4h
  const bounce = await setup(t, server);
  await waitingEntry(bounce.spool, 10 * HOUR, '');
  const off = await setup(t, server, { delayWarning: '0' });
  await waitingEntry(off.spool, 10 * HOUR);
  for (const { home } of [young, bounce, off]) assert.equal((await runCli(['flush'], { home })).code, 75);
  assert.equal(server.transactions, 3, 'every entry was tried');
  assert.equal(warnings(server).length, 0);
  assert.equal((await readEntryState(young.spool, youngId))?.delayWarned, undefined);
  // A shorter threshold is honoured: the same young entry warns with delayWarning 30m.
  await writeConfig(young.home, { smarthost: server.url, delayWarning: '30m' });
  assert.equal((await runCli(['retry', youngId], { home: young.home })).code, 0);
  assert.equal((await runCli(['flush'], { home: young.home })).code, 75);
  assert.equal(warnings(server).length, 1);
});

test('killed after the warning is queued but before it is recorded: the warning is still delivered (a duplicate is possible, a loss is not)', async (t) => {
  const server = await greylisting();
  t.after(() => server.close());
  const { home, spool } = await setup(t, server);
  const id = await waitingEntry(spool, 5 * HOUR);
  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-after-delay-warning-queued' } });
  assert.equal(crashed.signal, 'SIGKILL');
  assert.equal(warnings(server).length, 0);
  assert.equal((await readEntryState(spool, id))?.delayWarned, undefined, 'not recorded yet');
  assert.equal((await listStateFileIdsIncludingFinished(spool)).length, 2, 'the warning is in the spool');
  await runCli(['flush'], { home });
  assert.equal(warnings(server).length, 1, 'delivered after the crash');
});
