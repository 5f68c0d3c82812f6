/**
 * Possible duplicates after a crash (issue 11, item 13): a flusher killed
 * between a transaction's final dot and the record of its outcome leaves the
 * transaction in its journal; the next flusher marks those recipients
 * "possible duplicate" (status, show, log) and, with onCrash hold, holds
 * the entry for review. Real `bulkmailer flush` processes, a real smarthost
 * on 127.0.0.1, a crash point and a real kill -9.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { collect, runCli, spawnCli } from '../support/cli.js';
import { enqueueMessage, listEntryIds, openSpool, readEntryState, TransactionJournal, recoverJournals } from '../../src/spool/index.js';

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

async function logLines(home: string): Promise<{ recipient: string; status: string; possibleDuplicate?: boolean }[]> {
  const text = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l));
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
  assert.deepEqual(await listEntryIds(spool), []);
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
  assert.deepEqual(await listEntryIds(spool), []);
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
  const { writeEntryState } = await import('../../src/spool/index.js');
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
