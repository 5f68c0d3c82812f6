/**
 * Issue 11 items 2 and 5: a directory fsync that fails (EIO), made real by
 * an LD_PRELOAD library built here (test/support/fsync-fault.ts), under the
 * real binaries.
 *
 *  - flush: the group fsync of removals fails in the timer's round while a
 *    transaction is in flight (a removal round per finished entry:
 *    BULKMAILER_REMOVAL_ROUND=1), and the batch starts no other; the flush stops deliberately (exit 74, one
 *    sentence, no stack), releases its locks, and the next flush delivers
 *    the rest, with no duplicate;
 *  - agent: the same failure is logged, the agent and its listener live
 *    on (the listener's enqueue fsyncs no state directory, so it takes
 *    mail meanwhile), and its next run delivers;
 *  - sendmail: the fsync of tmp/ (the pending commit's name, in the
 *    enqueue's one fsync round) fails; the pending commit and the message
 *    are removed and the exit says "not queued" (74), so a caller that
 *    retries does not send twice;
 *  - sendmail and `bulkmailer enqueue` (one-shot: each directory opened,
 *    fsynced and closed, no handle kept): the message directory's fsync
 *    fails; nothing is queued and the exit is 74, not 0.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { runCli, SENDMAIL } from '../support/cli.js';
import { fsyncFaultForTests } from '../support/fsync-fault.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, spoolLayout } from '../../src/spool/index.js';
import { killAll, nudge, startAgent } from '../agent/agent-process.js';

// Agents first, then the library's directory (hooks run in the order registered).
after(killAll);
const fault = fsyncFaultForTests();

const message = (n: number) => `From: list@example.org\r\nSubject: post ${n}\r\nMessage-ID: <post-${n}@example.org>\r\n\r\nHello ${n}.\r\n`;

/** Every file below a directory (the lock directory's target included, through its link). */
async function filesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

test('flush: a failed fsync of the removals stops the flush with exit 74 and a sentence, locks released; the next flush sends the rest once', async (t) => {
  // Each dot waits 500 ms for its reply, and each finished entry is a removal round of its own (the test seam
  // BULKMAILER_REMOVAL_ROUND; 4,096 entries by default): the removals' timer round (50 ms) fails while the next
  // transaction is in flight, and the batch starts no other (four messages: one transaction of margin on a loaded machine).
  const { server, home } = await smarthostAndHome(t, { concurrency: 1 }, { dataDelayMs: 500 });
  const spool = await openSpool(home);
  for (let n = 0; n < 4; n++) {
    await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${n}@example.net`], message: message(n) });
  }
  const state = spoolLayout(home).state;

  const failed = await runCli(['flush'], { home, env: { ...fault.env(`${state}/`), BULKMAILER_REMOVAL_ROUND: '1' } });
  assert.equal(failed.code, 74, failed.stdout + failed.stderr);
  assert.match(
    failed.stderr,
    /delivery stopped: the removal of delivered entries could not be made durable \(fsync of .*spool\/state\/[0-9a-f]\): input\/output error/,
  );
  assert.doesNotMatch(failed.stderr, /internal error|\n\s+at |Unhandled|triggerUncaughtException/);
  assert.equal(failed.signal, null);
  // Locks released: no instance lock, no entry lock left behind.
  assert.deepEqual((await filesIn(spool.lock)).filter((n) => n !== 'entries' && n !== 'trigger.sock'), []);
  assert.deepEqual(await filesIn(path.join(spool.lock, 'entries')), []);
  const firstRun = server.messages.length;
  assert.ok(firstRun >= 1, 'the first transaction went out before the failure');
  assert.ok(firstRun < 4, `the batch stopped starting transactions: ${firstRun} of 4 sent (the failure comes ~50 ms into the second)`);
  // What was sent left the spool; what was not is still queued.
  assert.equal((await listStateFileIdsIncludingFinished(spool)).length, 4 - firstRun);

  const next = await runCli(['flush'], { home });
  assert.equal(next.code, 0, next.stdout + next.stderr);
  const to = server.messages.map((m) => m.to[0]).sort();
  assert.deepEqual(to, ['r0@example.net', 'r1@example.net', 'r2@example.net', 'r3@example.net'], 'each once: no duplicate, nothing lost');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('flush: the transaction journal\'s last fdatasync fails after the last transaction: exit 74 with a sentence, the delivered entry removed, nothing sent again', async (t) => {
  // The fault turns on when the smarthost has the message (its dot came after the transaction's fdatasync): the next
  // fdatasync of the journal is the one the batch's end waits for before removing the finished entry.
  const flag = path.join(fault.dir, `journal-fails-${process.pid}`);
  t.after(() => fs.rm(flag, { force: true }));
  const { server, home } = await smarthostAndHome(t, { concurrency: 1 }, { dataReply: () => (writeFileSync(flag, ''), null) });
  const spool = await openSpool(home);
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['r0@example.net'], message: message(0) });

  const failed = await runCli(['flush'], { home, env: fault.env(`${spoolLayout(home).journal}/`, flag, { files: true }) });
  assert.equal(failed.code, 74, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /the transaction journal .*spool\/journal\/.*\.jsonl failed \(the delivered entries were removed: nothing lost\): input\/output error/);
  assert.doesNotMatch(failed.stderr, /internal error|\n\s+at |Unhandled|triggerUncaughtException/);
  assert.equal(server.messages.length, 1);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'the delivered entry is removed');

  await fs.rm(flag);
  const next = await runCli(['flush'], { home });
  assert.equal(next.code, 0, next.stdout + next.stderr);
  assert.equal(server.messages.length, 1, 'nothing sent again');
  assert.deepEqual(await filesIn(spoolLayout(home).journal), [], 'the kept journal was read and removed');
});

test('agent: a failed fsync is logged and the flush ends; the agent and its listener live on, and the next run delivers', async (t) => {
  const config = { concurrency: 1, schedule: '0 0 1 1 *', listener: { enabled: true, host: '127.0.0.1', port: 0 } };
  const { server, home } = await smarthostAndHome(t, config, { dataDelayMs: 500 });
  const spool = await openSpool(home);
  const flag = path.join(fault.dir, `disk-fails-${process.pid}`);
  await fs.writeFile(flag, '');
  const agent = startAgent(home, fault.env(`${spoolLayout(home).state}/`, flag));
  const { event: ready } = await agent.waitFor('ready');
  const port = ready.listener!.port;
  await agent.waitFor('flush-end', (e) => e.n === 1);

  for (let n = 0; n < 3; n++) {
    await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${n}@example.net`], message: message(n) });
  }
  const before = agent.events.length;
  await nudge(home);
  const { event: failedRun } = await agent.waitFor('flush-end', (e) => e.error !== null, { from: before, timeoutMs: 30_000 });
  assert.match(failedRun.error!, /removal of delivered entries could not be made durable .*input\/output error/);
  assert.ok(agent.lines.some((l) => /failed: delivery stopped/.test(l)), agent.lines.join('\n'));

  // Still alive, the listener too: it takes a message now (its enqueue fsyncs no state directory, which is what fails),
  // and the run that message's nudge starts meets the failing disk again, and stops the same way.
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  const offered = agent.events.length;
  await transport.sendMail({ envelope: { from: 'list@example.org', to: ['late@example.net'] }, raw: message(9) });
  await agent.waitFor('flush-end', (e) => e.error !== null, { from: offered, timeoutMs: 30_000 });

  // The disk heals: the next run delivers everything, once; the listener takes mail again.
  await fs.rm(flag);
  const healed = agent.events.length;
  await nudge(home);
  await agent.waitFor('flush-end', (e) => e.error === null && e.result?.outcome === 'done', { from: healed, timeoutMs: 30_000 });
  await transport.sendMail({ envelope: { from: 'list@example.org', to: ['later@example.net'] }, raw: message(10) });
  await server.waitForMessages(5, 20_000);
  assert.deepEqual(
    server.messages.map((m) => m.to[0]).sort(),
    ['late@example.net', 'later@example.net', 'r0@example.net', 'r1@example.net', 'r2@example.net'],
  );
  assert.equal(agent.count('flush-end', (e) => e.error !== null), 2);
  const stopped = await agent.stop('SIGTERM');
  assert.equal(stopped.code, 0, agent.lines.join('\n'));
});

test('sendmail: when tmp/ (the pending commit\'s name) cannot be fsynced, nothing is queued, nothing is left, and the exit is 74', async (t) => {
  const { server, home } = await smarthostAndHome(t, { from: 'list@example.org' });
  const layout = spoolLayout(home);
  const failed = await runCli(['-f', 'list@example.org', 'bob@example.net'], {
    home,
    bin: SENDMAIL,
    input: message(1),
    env: fault.env(layout.tmp),
  });
  assert.equal(failed.code, 74, failed.stderr);
  assert.match(failed.stderr, /cannot enqueue: .*input\/output error/);
  assert.doesNotMatch(failed.stderr, /internal error|\n\s+at |may still be sent/);
  const spool = await openSpool(home);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  for (const dir of [layout.tmp, ...'0123456789abcdef'.split('').map((b) => path.join(layout.msg, b))]) {
    assert.deepEqual(await filesIn(dir), [], `${dir} is empty`);
  }
  // Nothing goes out later either; the same command on a healthy disk queues it once.
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 0, flush.stderr);
  assert.equal(server.messages.length, 0);
  const ok = await runCli(['-f', 'list@example.org', 'bob@example.net'], { home, bin: SENDMAIL, input: message(1) });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await runCli(['flush'], { home })).code, 0);
  assert.equal(server.messages.length, 1);
});

test('sendmail and `bulkmailer enqueue` (one-shot, no kept handles): when the message directory cannot be fsynced, the exit is 74 and nothing is queued', async (t) => {
  const { server, home } = await smarthostAndHome(t, { from: 'list@example.org' });
  const layout = spoolLayout(home);
  const env = fault.env(`${layout.msg}/`);
  const runs = [
    await runCli(['-f', 'list@example.org', 'bob@example.net'], { home, bin: SENDMAIL, input: message(1), env }),
    await runCli(['enqueue', '-f', 'list@example.org', 'bob@example.net'], { home, input: message(2), env }),
  ];
  for (const run of runs) {
    assert.equal(run.code, 74, run.stderr);
    assert.match(run.stderr, /input\/output error/i);
    assert.equal(run.stdout, '', 'no queue id printed');
  }
  assert.deepEqual(await listStateFileIdsIncludingFinished(await openSpool(home)), []);
  assert.equal((await runCli(['flush'], { home })).code, 0);
  assert.equal(server.messages.length, 0);
});
