/**
 * The flush reads each state file once when nothing else writes it: the
 * plan's parsed state goes to the entry's delivery, which uses it only if
 * the file is still that version. These tests change entries on disk, with
 * the real CLI, between the plan and their delivery: the delivery must see
 * the change (a held entry is not sent, a deleted one is not sent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { BULKMAILER } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

function message(subject: string): string {
  return `From: list@example.org\r\nTo: members@example.org\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
}

/** The CLI, synchronously: nothing of the flush in this process runs until it has finished. */
function cliNow(home: string, args: string[]): void {
  execFileSync(process.execPath, [BULKMAILER, ...args], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, stdio: 'pipe' });
}

test('a hold and a delete landing after the plan and before the entry\'s delivery are seen: neither entry is sent', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  // One session: the entries go one after another, in queue order.
  await writeConfig(home, { smarthost: server.url, concurrency: 1 });
  // A millisecond apart: ids made in the same one would sort by their random part, not in this order.
  const now = Date.now();
  const first = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a1@x.org', 'a2@y.org'], message: message('first'), now });
  const held = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['b1@x.org'], message: message('held'), now: now + 1 });
  const deleted = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['c1@x.org'], message: message('deleted'), now: now + 2 });
  const last = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['d1@x.org'], message: message('last'), now: now + 3 });
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [first.id, held.id, deleted.id, last.id]);

  const events = new FlushEvents();
  let changed = false;
  events.on('start', (start: { dueEntries: number }) => assert.equal(start.dueEntries, 4, 'all four were planned'));
  events.on('transaction', ({ id }: { id: string }) => {
    if (id !== first.id) return;
    // After the plan read every state, before the next entry's delivery starts.
    cliNow(home, ['hold', held.id]);
    cliNow(home, ['delete', '--yes', deleted.id]);
    changed = true;
  });
  const result = await flushQueue({ home, events });
  assert.equal(changed, true);
  const sent = server.messages.flatMap((m) => m.to).sort();
  assert.deepEqual(sent, ['a1@x.org', 'a2@y.org', 'd1@x.org']);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [held.id]);
  const state = (await readEntryState(spool, held.id))!;
  assert.equal(state.held, true);
  assert.equal(state.recipients[0]!.attempts, 0);
  assert.equal(result.sent, 3);
});

test('a hold landing during an entry\'s first transaction is kept when the outcome is recorded, and stops the next one', async (t) => {
  let id = '';
  let home = '';
  const server = await startCaptureServer({
    // Runs in this process while the flusher waits for the reply to the dot.
    dataReply: (n) => {
      if (n === 0) cliNow(home, ['hold', id]);
      return null;
    },
  });
  t.after(() => server.close());
  const temp = await makeTempHome();
  t.after(temp.cleanup);
  home = temp.home;
  const spool = await openSpool(home);
  // One recipient per transaction: the entry needs two.
  await writeConfig(home, { smarthost: server.url, concurrency: 1, maxRecipientsPerTransaction: 1 });
  id = (await enqueueMessage(spool, { from: 'list@example.org', recipients: ['one@x.org', 'two@x.org'], message: message('two') })).id;
  const result = await flushQueue({ home });
  assert.deepEqual(server.messages.flatMap((m) => m.to), ['one@x.org']);
  const state = (await readEntryState(spool, id))!;
  assert.equal(state.held, true, 'the hold written during the transaction survives the recording of its outcome');
  assert.deepEqual(
    state.recipients.map((r) => [r.address, r.status]),
    [
      ['one@x.org', 'sent'],
      ['two@x.org', 'pending'],
    ],
  );
  assert.equal(result.sent, 1);
});
