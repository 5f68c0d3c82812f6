/**
 * The one JSON record store (src/spool/records.ts) on a real spool in a
 * temp home: a missing, corrupt or refused record reads as null; a link in
 * a record's place is refused (exit 74, never followed) on read and
 * replaced, not written through, on write; durable and advisory writes
 * leave a 0600 file and no temp behind; a failed write names the record
 * and removes its temp file; a record write takes no version stamp (an
 * fstat only entry states use). The stores on top (holds, caps, tokens, the
 * send ledger, the last probe) are covered by their own tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BulkmailerError } from '../../src/errors.js';
import { enqueueMessage, isStateCurrent, openSpool, readEntryState, spoolLayout, writeEntryState } from '../../src/spool/index.js';
import { readJsonRecord, readRecord, writeJsonRecord, writeRecord, recordPath } from '../../src/spool/records.js';
import { readAccountHold } from '../../src/spool/account-holds.js';
import { makeTempHome } from '../support/home.js';
import { messageText } from '../support/spool-fixtures.js';

const isObject = (v: unknown): { n: number } | null =>
  typeof v === 'object' && v !== null && typeof (v as { n?: unknown }).n === 'number' ? (v as { n: number }) : null;

async function spoolFor(t: { after: (fn: () => Promise<void>) => void }) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  // accounts/ and records/ are made by the first durable write; these tests put files there first.
  fs.mkdirSync(path.join(spool.root, 'accounts'), { recursive: true, mode: 0o700 });
  return spool;
}

test('a missing record reads as null', async (t) => {
  const spool = await spoolFor(t);
  assert.equal(readJsonRecord(path.join(spool.root, 'accounts', 'nobody.hold.json'), 'the hold', isObject), null);
  assert.equal(readRecord(spool, 'mx-cache'), null);
});

test('a corrupt record (not JSON, torn, or refused by its validation) reads as null, and the next write replaces it', async (t) => {
  const spool = await spoolFor(t);
  const file = path.join(spool.root, 'accounts', 'x.rcpt.json');
  for (const text of ['', '{"n":', 'garbage\n', 'null\n', '{"n":"seven"}\n']) {
    fs.writeFileSync(file, text, { mode: 0o600 });
    assert.equal(readJsonRecord(file, 'the record', isObject), null, JSON.stringify(text));
  }
  await writeJsonRecord(spool, file, { n: 7 }, 'the record');
  assert.deepEqual(readJsonRecord(file, 'the record', isObject), { n: 7 });
  assert.equal(fs.readFileSync(file, 'utf8'), '{"n":7}\n');
});

test('a link in a record\'s place is refused on read (exit 74, the target is not read) and replaced, not written through, on write', async (t) => {
  const spool = await spoolFor(t);
  const target = path.join(spool.home, 'elsewhere.json');
  fs.writeFileSync(target, '{"n":1}\n', { mode: 0o600 });
  const file = path.join(spool.root, 'accounts', 'x.hold.json');
  fs.symlinkSync(target, file);

  assert.throws(
    () => readJsonRecord(file, 'the hold of account x', isObject),
    (err: unknown) =>
      err instanceof BulkmailerError && err.exitCode === 74 && /^cannot read the hold of account x: .*\(ELOOP\)$/.test(err.message),
  );
  // Through a store, too: the hold is not taken from the link's target.
  fs.writeFileSync(target, JSON.stringify({ version: 1, account: 'x', kind: 'paused', reply: '421', since: new Date().toISOString(), until: new Date().toISOString() }));
  assert.throws(() => readAccountHold(spool, 'x'), (err: unknown) => err instanceof BulkmailerError && err.exitCode === 74);

  await writeJsonRecord(spool, file, { n: 2 }, 'the hold of account x');
  assert.equal(fs.lstatSync(file).isSymbolicLink(), false);
  assert.deepEqual(readJsonRecord(file, 'the hold', isObject), { n: 2 });
  assert.match(fs.readFileSync(target, 'utf8'), /"version":1/, 'the link target is untouched');
});

test('durable and advisory writes leave a 0600 file and no temp file; an advisory write creates no directory', async (t) => {
  const spool = await spoolFor(t);
  await writeRecord(spool, 'destinations', { version: 1, down: {} });
  const file = recordPath(spool, 'destinations');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readRecord(spool, 'destinations'), { version: 1, down: {} });

  const advisory = path.join(spool.root, 'last-probe.json');
  await writeJsonRecord(spool, advisory, { n: 3 }, 'the last probe', 'advisory');
  assert.equal(fs.statSync(advisory).mode & 0o777, 0o600);
  assert.deepEqual(readJsonRecord(advisory, 'the last probe', isObject), { n: 3 });
  assert.deepEqual(fs.readdirSync(spool.tmp), []);

  // A home without a spool: the advisory write fails (nothing to advise) and creates nothing.
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const bare = spoolLayout(home);
  await assert.rejects(writeJsonRecord(bare, path.join(bare.root, 'last-probe.json'), { n: 4 }, 'the last probe', 'advisory'), BulkmailerError);
  assert.deepEqual(fs.readdirSync(home), []);
});

test('a failed write names the record, keeps the old one, and removes its temp file (file names with several dots included)', async (t) => {
  const spool = await spoolFor(t);
  const file = path.join(spool.root, 'accounts', 'work.v2.hold.json');
  await writeJsonRecord(spool, file, { n: 1 }, 'the work.v2 record');
  // A directory in the record's place: the rename fails (EISDIR), after the temp file was written.
  const blocked = path.join(spool.root, 'accounts', 'blocked.one.json');
  fs.mkdirSync(blocked);
  await assert.rejects(
    writeJsonRecord(spool, blocked, { n: 2 }, 'the blocked.one record'),
    (err: unknown) => err instanceof BulkmailerError && /^cannot write the blocked\.one record: /.test(err.message) && err.exitCode === 74,
  );
  assert.deepEqual(fs.readdirSync(spool.tmp), []);
  assert.deepEqual(readJsonRecord(file, 'the hold', isObject), { n: 1 });
});

test('a durable record write takes no version stamp (no fstat); an entry state write takes one, which the state keeps', async (t) => {
  const spool = await spoolFor(t);
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: messageText('x') });
  const state = (await readEntryState(spool, id))!;
  // A spy, not a fake: every fstat goes through to the real file system and is counted on the way.
  const fstats = t.mock.method(fs, 'fstatSync');
  await writeJsonRecord(spool, path.join(spool.root, 'accounts', 'x.conn.json'), { n: 1 }, 'the record');
  assert.equal(fstats.mock.callCount(), 0, 'a record is never reused by its version: no stamp');
  const next = { ...state, held: true };
  await writeEntryState(spool, next);
  assert.equal(fstats.mock.callCount(), 1, 'an entry state is: one fstat of the file just renamed');
  fstats.mock.restore();
  assert.equal(isStateCurrent(spool, next), true);
});
