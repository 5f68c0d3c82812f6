/**
 * Possible duplicates after a crash (issue 11, item 13): a flusher killed
 * between a transaction's final dot and the record of its outcome leaves the
 * transaction in its journal; the next flusher marks those recipients
 * "possible duplicate" (status, show, log) and, with onCrash hold, holds
 * the entry for review. And finished entries (src/spool/finished-entries.ts):
 * an entry whose last transaction left every recipient final is recorded by
 * a done line in the journal and removed later; a flusher killed in between
 * never sends it again (recovery removes what a done line names), and
 * `status` and `mailq` do not list it meanwhile. Real `bulkmailer flush`
 * processes, a real smarthost on 127.0.0.1, crash points and a real kill -9.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { spawnSync } from 'node:child_process';
import { collect, runCli, spawnCli, SENDMAIL } from '../support/cli.js';
import {
  DirSyncer,
  FinishedEntries,
  enqueueMessage,
  listEntryIds,
  listStateFileIdsIncludingFinished,
  openSpool,
  readEntryState,
  statePath,
  updateEntryState,
  writeEntryState,
  TransactionJournal,
  recoverJournals,
} from '../../src/spool/index.js';
import { BulkmailerError } from '../../src/errors.js';

function message(subject: string): string {
  return `From: list@example.org\r\nTo: members@example.org\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
}

function members(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}@d${i % 3}.example.net`);
}

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  return { home, spool: await openSpool(home) };
}

async function logLines(home: string): Promise<{ id: string; recipient: string; status: string; possibleDuplicate?: boolean }[]> {
  const text = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l));
}

/** What doctor's entries check, `account show`'s queued count and the library's listQueue see of the queue. */
async function countedElsewhere(home: string): Promise<{ doctor: string | undefined; accountQueued: number; listQueue: string[] }> {
  const { checkSpool } = await import('../../src/doctor/check-spool.js');
  const doctor = (await checkSpool(home)).find((c) => c.id === 'spool.entries')?.detail;
  const account = await runCli(['account', 'show', 'default', '--json'], { home });
  assert.equal(account.code, 0, account.stderr);
  const { listQueue } = await import('../../src/index.js');
  const listed: string[] = [];
  for await (const entry of listQueue({ home })) listed.push(entry.id);
  return { doctor, accountQueued: JSON.parse(account.stdout).queued, listQueue: listed };
}

test('killed between the dot and the record (crash point): the next flush marks that transaction\'s recipients possible duplicates, resends them, and says so in the log', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 1, maxRecipientsPerTransaction: 2 });
  const list = members(5, 'r');
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: list, message: message('crash') });

  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-after-data' } });
  assert.equal(crashed.signal, 'SIGKILL');
  assert.equal(server.messages.length, 1);
  const inFlight = server.messages[0]!.to;
  assert.equal((await fs.readdir(spool.journal)).length, 1, 'the crashed batch left its journal');

  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr + resumed.stdout, new RegExp(`crash interrupted a transaction of ${id}: ${inFlight.join(', ')} may have received it already \\(possible duplicate\\); sending again`));
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.deepEqual(await fs.readdir(spool.journal), [], 'recovered journals are removed, and a clean batch removes its own');
  const log = await logLines(home);
  assert.deepEqual(
    log.filter((l) => l.possibleDuplicate).map((l) => l.recipient).sort(),
    [...inFlight].sort(),
    'exactly the interrupted transaction is a possible duplicate',
  );
  const shown = await runCli(['log'], { home });
  assert.equal(shown.code, 0);
  for (const address of inFlight) assert.match(shown.stdout, new RegExp(`${address} .*\\(possible duplicate\\)`));
  assert.equal(shown.stdout.match(/possible duplicate/g)?.length, inFlight.length);
});

test('onCrash hold: the interrupted entry is held and shown as possible duplicates in status and show; release sends it', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 1, maxRecipientsPerTransaction: 2, onCrash: 'hold' });
  const list = members(4, 'h');
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: list, message: message('hold') });
  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-after-data' } });
  assert.equal(crashed.signal, 'SIGKILL');
  const inFlight = server.messages[0]!.to;

  const held = await runCli(['flush'], { home });
  assert.equal(held.code, 0, held.stderr);
  assert.match(held.stderr + held.stdout, /entry held for review \(bulkmailer release /);
  assert.equal(server.messages.length, 1, 'nothing more is sent while held');

  const status = JSON.parse((await runCli(['status', '--json'], { home })).stdout) as {
    id: string;
    held: boolean;
    recipients: { address: string; possibleDuplicate: boolean; status: string }[];
  }[];
  assert.equal(status[0]?.held, true);
  assert.deepEqual(status[0]!.recipients.filter((r) => r.possibleDuplicate).map((r) => r.address).sort(), [...inFlight].sort());
  const table = await runCli(['status'], { home });
  assert.match(table.stdout, /2 possible duplicates/);
  const show = await runCli(['show', id], { home });
  for (const address of inFlight) assert.match(show.stdout, new RegExp(`${address} .*possible duplicate`));

  assert.equal((await runCli(['release', id], { home })).code, 0);
  const after = await runCli(['flush'], { home });
  assert.equal(after.code, 0, after.stderr);
  const received = server.messages.flatMap((m) => m.to);
  assert.deepEqual([...new Set(received)].sort(), [...list].sort());
  assert.equal(received.length, list.length + inFlight.length, 'the held transaction went again only after release');
});

test('a real kill -9 with transactions waiting for their reply: every transaction whose dot went out is marked, nothing is lost', async (t) => {
  // The smarthost reads each final dot and then waits before replying, so
  // the flusher is killed with every worker inside the crash window.
  const slow = await startCaptureServer({ dataDelayMs: 120_000 });
  t.after(() => slow.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: slow.url, concurrency: 3, maxRecipientsPerTransaction: 2 });
  const all: string[] = [];
  for (let i = 0; i < 6; i++) {
    const list = members(3, `k${i}-`);
    all.push(...list);
    await enqueueMessage(spool, { from: 'list@example.org', recipients: list, message: message(`kill ${i}`) });
  }
  const child = spawnCli(['flush'], { home });
  const done = collect(child);
  await slow.waitForDots(3);
  child.kill('SIGKILL');
  const killed = await done;
  assert.equal(killed.signal, 'SIGKILL');
  const dotted = slow.dots.flat();
  await slow.close();

  const server = await startCaptureServer({}, slow.port);
  t.after(() => server.close());
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  const log = await logLines(home);
  const marked = new Set(log.filter((l) => l.possibleDuplicate).map((l) => l.recipient));
  for (const address of dotted) assert.ok(marked.has(address), `${address} reached the dot before the kill: marked`);
  assert.deepEqual(log.map((l) => l.recipient).sort(), [...all].sort(), 'every recipient delivered once the flush resumed');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('journal: concurrent transactions share fdatasyncs; recovery marks only unrecorded recipients, once', async (t) => {
  const { spool } = await setup(t);
  const { id, state } = await enqueueMessage(spool, {
    from: 'list@example.org',
    recipients: ['a@x.org', 'b@x.org', 'c@x.org'],
    message: message('journal'),
  });
  const journal = await TransactionJournal.open(spool);
  const waits = Array.from({ length: 40 }, () => journal.begin(id, [{ address: 'a@x.org', attempts: 0 }], Date.now()));
  await Promise.all(waits);
  assert.ok(journal.syncs <= 2, `40 transactions at once share fdatasyncs (${journal.syncs})`);
  // b's outcome was recorded (attempts moved on); c never was.
  journal.begin(id, [{ address: 'b@x.org', attempts: 0 }, { address: 'c@x.org', attempts: 0 }], Date.now());
  await journal.close(false);
  await writeEntryState(spool, {
    ...state,
    recipients: state.recipients.map((r) => (r.address === 'b@x.org' ? { ...r, status: 'deferred', attempts: 1, lastReply: '451 later' } : r)),
  });
  // A line torn by a power cut is never durable: skipped.
  await fs.appendFile(journal.file, '{"id":"' + id + '","at":"2026-');
  const recovered = await recoverJournals(spool, 'resend');
  assert.deepEqual(recovered, [
    { id, recipients: ['a@x.org'], held: false },
    { id, recipients: ['c@x.org'], held: false },
  ]);
  const after = await readEntryState(spool, id);
  assert.deepEqual(
    after!.recipients.map((r) => [r.address, r.attempts, r.possibleDuplicate === true]),
    [['a@x.org', 1, true], ['b@x.org', 1, false], ['c@x.org', 1, true]],
  );
  assert.deepEqual(await fs.readdir(spool.journal), []);
  // Recovering the same lines again (a crash during recovery) changes nothing.
  await fs.writeFile(path.join(spool.journal, 'again.jsonl'), JSON.stringify({ id, at: new Date().toISOString(), rcpt: [['a@x.org', 0]] }) + '\n');
  assert.deepEqual(await recoverJournals(spool, 'hold'), []);
  assert.equal((await readEntryState(spool, id))!.held, false);
});

test('killed after its entries finished, before their removal: status, show, delete, doctor, account and listQueue know none, a hold meanwhile changes nothing, the next flush removes them and sends nothing again', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 2 });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const recipients = [`a${i}@x.example.net`, `b${i}@y.example.net`];
    ids.push((await enqueueMessage(spool, { from: 'list@example.org', recipients, message: message(`finished ${i}`) })).id);
  }

  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-before-finished-removal' } });
  assert.equal(crashed.signal, 'SIGKILL', crashed.stderr);
  assert.equal(server.messages.length, 3);
  // Delivered, recorded only by the journal's done lines: the state files still say pending.
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [...ids].sort());
  for (const id of ids) assert.ok((await readEntryState(spool, id))!.recipients.every((r) => r.status === 'pending'));
  const journals = await fs.readdir(spool.journal);
  assert.equal(journals.length, 1);
  const lines = (await fs.readFile(path.join(spool.journal, journals[0]!), 'utf8')).replace(/\0+$/, '').trim().split('\n');
  assert.deepEqual(lines.map((l) => JSON.parse(l)).filter((l) => 'done' in l).map((l) => l.done).sort(), [...ids].sort());

  const status = await runCli(['status', '--json'], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual(JSON.parse(status.stdout), [], 'finished entries are not listed as queued');
  const mailq = spawnSync(SENDMAIL, ['-bp'], { env: { ...process.env, BULKMAILER_HOME: home }, encoding: 'utf8' });
  assert.equal(mailq.stdout, 'Mail queue is empty\n', mailq.stderr);
  // Nor do doctor, account and the library's listQueue count them.
  assert.deepEqual(await countedElsewhere(home), { doctor: '0 entries', accountQueued: 0, listQueue: [] });

  // The entry commands know no finished entry either.
  const shown = await runCli(['show', ids[0]!], { home });
  assert.equal(shown.code, 65);
  assert.match(shown.stderr, /no such entry/);
  assert.equal((await runCli(['delete', ids[1]!.slice(0, 10)], { home })).code, 65);
  // A `hold` that raced the done line (written after its check) rewrote the state under the state lock: the line still wins.
  await updateEntryState(spool, ids[0]!, (current) => ({ ...current, held: true }));

  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(server.messages.length, 3, 'nothing is sent again');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.deepEqual(await fs.readdir(spool.journal), []);
  const messages = (await fs.readdir(spool.msg, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  assert.deepEqual(messages, [], 'no message left behind');
  const log = await logLines(home);
  assert.equal(log.length, 6);
  assert.equal(log.filter((l) => l.possibleDuplicate).length, 0);
});

test('finished entries beside a queued one: every reader and entry command shows the queued entry alone, and changes no finished entry (status, mailq, -bp, doctor, account, listQueue, show, hold, release, retry, retry --all, delete)', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 1 });
  // One finished entry's state file still says a recipient is deferred (due): retry --all over the raw listing would count it.
  const first = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.example.net', 'b@y.example.net'], message: message('first') });
  await writeEntryState(spool, {
    ...first.state,
    recipients: first.state.recipients.map((r) =>
      r.address === 'b@y.example.net' ? { ...r, status: 'deferred' as const, attempts: 1, lastReply: '451 4.3.0 later', nextAttemptAt: new Date(Date.now() - 60_000).toISOString() } : r,
    ),
  });
  const second = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['c@x.example.net'], message: message('second') });
  const queued = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['q@x.example.net'], message: message('queued') });
  await updateEntryState(spool, queued.id, (current) => ({ ...current, held: true }));
  const finished = [first.id, second.id];

  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-before-finished-removal' } });
  assert.equal(crashed.signal, 'SIGKILL', crashed.stderr);
  assert.equal(server.messages.length, 2);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [...finished, queued.id].sort(), 'the finished entries\' state files are still there');
  const stateFiles = async () => Promise.all(finished.map((id) => fs.readFile(statePath(spool, id), 'utf8')));
  const before = await stateFiles();
  assert.deepEqual(await listEntryIds(spool), [queued.id]);

  const shows = (text: string) => [queued.id, ...finished].filter((id) => text.includes(id));
  const status = await runCli(['status', '--json'], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.deepEqual((JSON.parse(status.stdout) as { id: string }[]).map((e) => e.id), [queued.id]);
  const table = await runCli(['status'], { home });
  assert.equal(table.code, 0, table.stderr);
  assert.deepEqual(shows(table.stdout), [queued.id]);
  const mailq = await runCli(['mailq'], { home });
  assert.equal(mailq.code, 0, mailq.stderr);
  assert.deepEqual(shows(mailq.stdout.replace(/\s+/g, ' ')), [queued.id], mailq.stdout);
  const bp = spawnSync(SENDMAIL, ['-bp'], { env: { ...process.env, BULKMAILER_HOME: home }, encoding: 'utf8' });
  assert.equal(bp.status, 0, bp.stderr);
  assert.equal(bp.stdout, mailq.stdout);
  assert.deepEqual(await countedElsewhere(home), { doctor: '1 entry', accountQueued: 1, listQueue: [queued.id] });

  // The entry commands: a finished entry is no entry, by its full id or a prefix of it.
  for (const args of [
    ['show', first.id],
    ['show', second.id.slice(0, 12)],
    ['hold', first.id],
    ['hold', second.id.slice(0, 12)],
    ['release', first.id],
    ['retry', first.id],
    ['retry', first.id.slice(0, 12)],
    ['delete', second.id],
  ]) {
    const run = await runCli(args, { home });
    assert.equal(run.code, 65, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /no such entry/, args.join(' '));
  }
  const all = await runCli(['retry', '--all'], { home });
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^0 deferred recipients in 0 entries due now$/m);
  assert.deepEqual(await stateFiles(), before, 'no command rewrote a finished entry\'s state file');

  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(server.messages.length, 2, 'nothing is sent again');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [queued.id]);
  assert.deepEqual(await fs.readdir(spool.journal), []);
});

test('a real kill -9 mid-drain: no recipient is delivered twice except from a transaction in flight, and all are delivered', async (t) => {
  // Each dot answered after 20 ms: 300 messages over 4 sessions take well over a second, so the kill lands mid-drain.
  const server = await startCaptureServer({ dataDelayMs: 20 });
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 4 });
  const all: string[] = [];
  for (let i = 0; i < 300; i++) {
    const recipients = [`m${i}-a@x.example.net`, `m${i}-b@y.example.net`];
    all.push(...recipients);
    await enqueueMessage(spool, { from: 'list@example.org', recipients, message: message(`drain ${i}`) });
  }
  const child = spawnCli(['flush'], { home });
  const done = collect(child);
  // Killed once a third is delivered: finished entries recorded, not removed (their batch has not ended).
  let exited = false;
  void done.then(() => (exited = true));
  while (server.messages.length < 100 && !exited) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGKILL');
  assert.equal((await done).signal, 'SIGKILL');
  const before = server.messages.length;
  assert.ok((await listStateFileIdsIncludingFinished(spool)).length > 300 - before, 'some delivered entries were still in the spool at the kill');

  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  const received = server.messages.flatMap((m) => m.to);
  assert.deepEqual([...new Set(received)].sort(), [...all].sort(), 'every recipient delivered');
  const counts = new Map<string, number>();
  for (const address of received) counts.set(address, (counts.get(address) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([address]) => address);
  // Only the transactions in flight at the kill (at most one per session) can go twice, and they are marked.
  assert.ok(twice.length <= 4 * 2, `sent twice: ${twice.length}`);
  const marked = new Set((await logLines(home)).filter((l) => l.possibleDuplicate).map((l) => l.recipient));
  for (const address of twice) assert.ok(marked.has(address), `${address} went twice and is marked a possible duplicate`);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('journal: a done line makes recovery remove its entry and not mark its transaction; removal rounds start before the batch ends when the messages held are large, and deliveries wait while two are outstanding', async (t) => {
  const { spool } = await setup(t);
  const first = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org', 'b@x.org'], message: message('one') });
  const second = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['c@x.org'], message: message('two') });
  const journal = await TransactionJournal.open(spool);
  await journal.begin(first.id, [{ address: 'a@x.org', attempts: 0 }, { address: 'b@x.org', attempts: 0 }], Date.now());
  await journal.begin(second.id, [{ address: 'c@x.org', attempts: 0 }], Date.now());
  assert.equal(journal.finish(first.id), true);
  await journal.close(false);
  // The second's transaction was never recorded: a possible duplicate; the first is finished: removed, unmarked.
  assert.deepEqual(await recoverJournals(spool, 'resend'), [{ id: second.id, recipients: ['c@x.org'], held: false }]);
  assert.equal(await readEntryState(spool, first.id), null);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [second.id]);
  assert.deepEqual(await fs.readdir(spool.journal), []);

  // 64 MiB of messages waiting is a round of its own, started at once, not at settle().
  const big = await TransactionJournal.open(spool);
  const finished = new FinishedEntries(spool, big, new DirSyncer());
  assert.equal(finished.finish(second.id, 64 * 1024 * 1024), true);
  // A deadline, so that rounds that never start fail the test instead of hanging it.
  const deadline = Date.now() + 20_000;
  while (finished.removed === 0) {
    assert.ok(Date.now() < deadline, 'the round started by 64 MiB of messages removed nothing within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(await readEntryState(spool, second.id), null);
  assert.equal(finished.whenRoom(), null, 'no round outstanding: deliveries go on');
  // Two rounds outstanding: a delivery waits for the oldest, and then its entry is gone.
  const three = [];
  for (let i = 0; i < 3; i++) three.push((await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@x.org`], message: message(`r${i}`) })).id);
  for (const id of three) assert.equal(finished.finish(id, 64 * 1024 * 1024), true);
  const room = finished.whenRoom();
  assert.notEqual(room, null);
  await room;
  assert.equal(await readEntryState(spool, three[0]!), null);
  await finished.settle();
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  await big.close(true);
});

test('journal: a finished entry recovery cannot remove (a directory in its state file\'s place) fails with a sentence naming it and its journal, exit 74; the journal is kept', async (t) => {
  const { spool } = await setup(t);
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org'], message: message('one') });
  const journal = await TransactionJournal.open(spool);
  await journal.begin(id, [{ address: 'a@x.org', attempts: 0 }], Date.now());
  assert.equal(journal.finish(id), true);
  await journal.close(false);
  const [name] = await fs.readdir(spool.journal);
  const state = (await fs.readdir(spool.state, { recursive: true })).find((n) => n.endsWith(`${id}.json`))!;
  const statePath = path.join(spool.state, state);
  await fs.rm(statePath);
  await fs.mkdir(path.join(statePath, 'inside'), { recursive: true });
  await assert.rejects(recoverJournals(spool, 'resend'), (err: unknown) => {
    assert.ok(err instanceof BulkmailerError, String(err));
    assert.equal(err.exitCode, 74);
    assert.match(err.message, new RegExp(`^cannot remove ${id}, finished in .*journal/${name!.replace(/\./g, '\\.')}: `));
    return true;
  });
  assert.deepEqual(await fs.readdir(spool.journal), [name], 'the journal stays for the next start');
});
