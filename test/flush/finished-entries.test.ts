/**
 * Finished entries (src/spool/finished-entries.ts): an entry whose last
 * transaction left every recipient final is recorded by a done line in the
 * batch's transaction journal and removed later. A flusher killed in
 * between must never send it again: the next flusher's recovery removes
 * what a done line names, and `status`, `mailq` and the sendmail frontend's
 * mailq do not list it meanwhile. Real `bulkmailer flush` processes, a real
 * smarthost on 127.0.0.1, a crash point (SIGKILL) and a real kill -9.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { collect, runCli, spawnCli, SENDMAIL } from '../support/cli.js';
import {
  DirSyncer,
  FinishedEntries,
  TransactionJournal,
  enqueueMessage,
  listEntryIds,
  openSpool,
  readEntryState,
  recoverJournals,
} from '../../src/spool/index.js';
import { spawnSync } from 'node:child_process';

function message(subject: string): string {
  return `From: list@example.org\r\nTo: members@example.org\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
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

test('killed after its entries finished, before their removal: status lists none, a hold meanwhile changes nothing, the next flush removes them and sends nothing again', async (t) => {
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
  assert.deepEqual(await listEntryIds(spool), [...ids].sort());
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

  // A `hold` between the crash and the recovery writes a state file back under the state lock; the done line still wins.
  assert.equal((await runCli(['hold', ids[0]!], { home })).code, 0);

  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(server.messages.length, 3, 'nothing is sent again');
  assert.deepEqual(await listEntryIds(spool), []);
  assert.deepEqual(await fs.readdir(spool.journal), []);
  const messages = (await fs.readdir(spool.msg, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  assert.deepEqual(messages, [], 'no message left behind');
  const log = await logLines(home);
  assert.equal(log.length, 6);
  assert.equal(log.filter((l) => l.possibleDuplicate).length, 0);
});

test('a real kill -9 mid-drain: no recipient is delivered twice except from a transaction in flight, and all are delivered', async (t) => {
  const server = await startCaptureServer();
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
  while (server.messages.length < 100) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGKILL');
  assert.equal((await done).signal, 'SIGKILL');
  const before = server.messages.length;
  assert.ok((await listEntryIds(spool)).length > 300 - before, 'some delivered entries were still in the spool at the kill');

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
  assert.deepEqual(await listEntryIds(spool), []);
});

test('journal: a done line makes recovery remove its entry and not mark its transaction; removal rounds start before the batch ends when the messages held are large', async (t) => {
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
  assert.deepEqual(await listEntryIds(spool), [second.id]);
  assert.deepEqual(await fs.readdir(spool.journal), []);

  // 64 MiB of messages waiting is a round of its own, started at once, not at settle().
  const big = await TransactionJournal.open(spool);
  const finished = new FinishedEntries(spool, big, new DirSyncer());
  assert.equal(finished.finish(second.id, 64 * 1024 * 1024), true);
  while (finished.removed === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(await readEntryState(spool, second.id), null);
  await finished.settle();
  await big.close(true);
});
