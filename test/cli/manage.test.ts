/**
 * retry, hold, release and delete: what they do to the state files, how
 * they fail (unknown id 65 with nothing changed, delete without a terminal
 * and without --yes 64, the prompt on a terminal), and how they behave
 * against a real running flush: delete of the entry being delivered fails
 * with "busy" (75) and deletes nothing; hold stops that entry's next
 * transaction (at most the one in flight completes).
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { BULKMAILER, collect, runCli, spawnCli } from '../support/cli.js';
import { runInPty } from '../support/pty.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeMixedSpool, messageText, type MixedSpool } from '../support/spool-fixtures.js';
import { enqueueMessage, messagePath, openSpool, readEntryState, statePath } from '../../src/spool/index.js';

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}

describe('retry, hold, release, delete', () => {
  let home: TempHome;
  let fixture: MixedSpool;

  beforeEach(async () => {
    home = await makeTempHome();
    fixture = await makeMixedSpool(home.home);
  });
  afterEach(() => home.cleanup());

  test('retry ID makes deferred recipients due now; retry --all does every entry', async () => {
    const run = await runCli(['retry', fixture.mixed.slice(0, 12)], { home: home.home });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^${fixture.mixed}: 2 deferred recipients due now$`, 'm'));
    const state = await readEntryState(fixture.spool, fixture.mixed);
    const deferred = state?.recipients.filter((r) => r.status === 'deferred') ?? [];
    assert.equal(deferred.length, 2);
    assert.ok(deferred.every((r) => r.nextAttemptAt === null));
    // Everything else untouched.
    assert.deepEqual(
      state?.recipients.map((r) => [r.status, r.attempts, r.lastReply]),
      [
        ['sent', 1, '250 2.0.0 Ok: queued'],
        ['sent', 1, '250 2.0.0 Ok: queued'],
        ['deferred', 2, '451 4.7.1 Greylisted, try later'],
        ['deferred', 2, '451 4.7.1 Greylisted, try later'],
        ['failed', 1, '550 5.1.1 No such user'],
        ['pending', 0, null],
      ],
    );
    const again = await runCli(['retry', '--all'], { home: home.home });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^0 deferred recipients in 0 entries due now$/m);

    const none = await runCli(['retry'], { home: home.home });
    assert.equal(none.code, 64);
    const both = await runCli(['retry', fixture.mixed, '--all'], { home: home.home });
    assert.equal(both.code, 64);
  });

  test('hold and release flip the held flag; an unknown id changes nothing and exits 65', async () => {
    const held = await runCli(['hold', fixture.pending, fixture.mixed], { home: home.home });
    assert.equal(held.code, 0, held.stderr);
    assert.equal((await readEntryState(fixture.spool, fixture.pending))?.held, true);
    assert.equal((await readEntryState(fixture.spool, fixture.mixed))?.held, true);
    const twice = await runCli(['hold', fixture.pending], { home: home.home });
    assert.match(twice.stdout, /already held/);

    const unknown = await runCli(['release', fixture.pending, 'zzzzzz'], { home: home.home });
    assert.equal(unknown.code, 65);
    assert.match(unknown.stderr, /no such entry: zzzzzz/);
    assert.equal((await readEntryState(fixture.spool, fixture.pending))?.held, true, 'nothing changed');

    const released = await runCli(['release', fixture.pending, fixture.held], { home: home.home });
    assert.equal(released.code, 0, released.stderr);
    assert.equal((await readEntryState(fixture.spool, fixture.pending))?.held, false);
    assert.equal((await readEntryState(fixture.spool, fixture.held))?.held, false);
  });

  test('delete --yes removes the entry and records it in log/deletions.jsonl', async () => {
    const run = await runCli(['delete', fixture.mixed, '--yes'], { home: home.home });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /deleted \(3 undelivered recipients\)/);
    assert.equal(await exists(statePath(fixture.spool, fixture.mixed)), false);
    assert.equal(await exists(messagePath(fixture.spool, fixture.mixed)), false);
    const log = (await fs.readFile(path.join(home.home, 'log', 'deletions.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(log.length, 1);
    const record = JSON.parse(log[0] ?? '{}') as { id: string; sent: number; failed: number; undelivered: string[] };
    assert.equal(record.id, fixture.mixed);
    assert.equal(record.sent, 2);
    assert.equal(record.failed, 1);
    assert.deepEqual(record.undelivered, ['d1@example.net', 'd2@example.net', 'p1@example.org']);
    // Not a delivery outcome: deliveries.jsonl does not get a line.
    assert.equal(await exists(path.join(home.home, 'log', 'deliveries.jsonl')), false);
    const again = await runCli(['delete', fixture.mixed, '--yes'], { home: home.home });
    assert.equal(again.code, 65);
    assert.match(again.stderr, /no such entry/);
  });

  test('delete without a terminal and without --yes refuses with 64', async () => {
    const run = await runCli(['delete', fixture.pending], { home: home.home });
    assert.equal(run.code, 64);
    assert.match(run.stderr, /--yes/);
    assert.equal(await exists(statePath(fixture.spool, fixture.pending)), true);
  });

  test('delete on a terminal asks first: "n" keeps the entry, "y" deletes it', async () => {
    const env = { ...process.env, NO_COLOR: '1', BULKMAILER_HOME: home.home };
    const no = await runInPty([process.execPath, BULKMAILER, 'delete', fixture.pending], env, { input: 'n\n' });
    assert.equal(no.code, 0, no.output);
    assert.match(no.output, /Delete entry \S+ \(3 recipients not yet delivered\)\? \[y\/N\]/);
    assert.match(no.output, /nothing deleted/);
    assert.equal(await exists(statePath(fixture.spool, fixture.pending)), true);
    const yes = await runInPty([process.execPath, BULKMAILER, 'delete', fixture.pending], env, { input: 'y\n' });
    assert.equal(yes.code, 0, yes.output);
    assert.match(yes.output, /deleted \(3 undelivered recipients\)/);
    assert.equal(await exists(statePath(fixture.spool, fixture.pending)), false);
  });
});

describe('against a running flush', () => {
  let home: TempHome;
  let server: CaptureServer;

  beforeEach(async () => {
    home = await makeTempHome();
    // One recipient per transaction, each held 250 ms at the final dot: a
    // 40-recipient entry takes ~10 s, far longer than the commands below.
    server = await startCaptureServer({ dataDelayMs: 250 });
    await writeConfig(home.home, { smarthost: server.url, maxRecipientsPerTransaction: 1, concurrency: 1 });
  });
  afterEach(async () => {
    await server.close();
    await home.cleanup();
  });

  test('delete of the entry being delivered fails with "busy"; hold stops its next transaction', async () => {
    const spool = await openSpool(home.home);
    const recipients = Array.from({ length: 40 }, (_, i) => `member${i}@example.org`);
    const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients, message: messageText('Busy post'), subject: 'Busy post' });
    const flush = spawnCli(['flush'], { home: home.home });
    const flushDone = collect(flush, undefined, 60_000);
    await server.waitForMessages(1);

    const del = await runCli(['delete', id, '--yes'], { home: home.home });
    assert.equal(del.code, 75, del.stderr);
    assert.match(del.stderr, new RegExp(`entry ${id} is busy: it is being delivered right now by pid ${flush.pid}`));
    assert.equal(await exists(statePath(spool, id)), true, 'nothing deleted');
    assert.equal(await exists(path.join(home.home, 'log', 'deletions.jsonl')), false);

    const hold = await runCli(['hold', id], { home: home.home });
    assert.equal(hold.code, 0, hold.stderr);
    const atHold = server.transactions;
    const result = await flushDone;
    assert.ok(result.code === 0 || result.code === 75, `flush exit ${result.code}: ${result.stderr}`);
    // The transaction in flight when hold landed may complete; no other starts.
    assert.ok(server.transactions <= atHold + 1, `transactions: ${atHold} at hold, ${server.transactions} at the end`);
    const state = await readEntryState(spool, id);
    assert.ok(state !== null);
    assert.equal(state.held, true);
    const sent = state.recipients.filter((r) => r.status === 'sent').length;
    assert.equal(sent, server.messages.length, 'every accepted transaction is recorded');
    assert.ok(sent < recipients.length, `${sent} sent: the hold stopped the entry`);
    assert.equal(state.recipients.filter((r) => r.status === 'pending').length, recipients.length - sent);

    // Released and flushed again, the rest goes, each member exactly once.
    assert.equal((await runCli(['release', id], { home: home.home })).code, 0);
    const second = await runCli(['flush', '--quiet'], { home: home.home, timeoutMs: 60_000 });
    assert.equal(second.code, 0, second.stderr);
    const counts = server.deliveriesByRecipient();
    assert.equal(counts.size, recipients.length);
    assert.ok([...counts.values()].every((n) => n === 1));
    assert.equal(await exists(statePath(spool, id)), false);
  });
});
