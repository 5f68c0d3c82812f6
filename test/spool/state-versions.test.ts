/**
 * A state read or written by this process is reused instead of reading its
 * file again only while the file is still that version (src/spool/
 * state-store.ts): any other writer's replacement, even one of the same
 * size, makes the next update and the next check read the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { makeTempHome } from '../support/home.js';
import { runCli } from '../support/cli.js';
import {
  enqueueMessage,
  isStateCurrent,
  openSpool,
  readEntryState,
  statePath,
  updateEntryState,
  writeEntryState,
} from '../../src/spool/index.js';
import type { EntryState } from '../../src/model/entry-state.js';

const MESSAGE = 'From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n';

async function oneEntry(t: { after: (fn: () => Promise<void>) => void }) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net', 'c@example.net'], message: MESSAGE });
  return { home, spool, id };
}

test('a known state that is still the file on disk is used as it is; the state written is current in turn', async (t) => {
  const { spool, id } = await oneEntry(t);
  assert.equal(isStateCurrent(spool, (await readEntryState(spool, id))!), false, 'read without its stamp: of unknown origin');
  const read = (await readEntryState(spool, id, { stamp: true }))!;
  assert.equal(isStateCurrent(spool, read), true);
  let seen: EntryState | null = null;
  const written = await updateEntryState(spool, id, (current) => ((seen = current), { ...current, subject: 'renamed' }), { known: read });
  assert.equal(seen, read, 'the file was still the version read: no second read');
  assert.equal(written!.subject, 'renamed');
  assert.equal(isStateCurrent(spool, written!), true);
  assert.equal(isStateCurrent(spool, read), false, 'the version read is gone');
  assert.equal(isStateCurrent(spool, { ...written! }), false, 'a copy has no known origin');
});

test('a state replaced by another writer, even with one of the same size, is read again', async (t) => {
  const { spool, id } = await oneEntry(t);
  const read = (await readEntryState(spool, id, { stamp: true }))!;
  const size = (await fs.stat(statePath(spool, id))).size;
  // Another writer's replacement of the same length: only the version (inode, times) tells.
  const recipients = read.recipients.map((r) => (r.address === 'b@example.net' ? { ...r, address: 'd@example.net' } : r));
  await writeEntryState(spool, { ...read, recipients });
  assert.equal((await fs.stat(statePath(spool, id))).size, size);
  assert.equal(isStateCurrent(spool, read), false);
  let seen: EntryState | null = null;
  await updateEntryState(spool, id, (current) => ((seen = current), null), { known: read });
  assert.notEqual(seen, read);
  assert.deepEqual(seen!.recipients.map((r) => r.address), ['d@example.net', 'c@example.net']);
});

test('a hold or a delete by the CLI between a read and the update is seen by the update', async (t) => {
  const { home, spool, id } = await oneEntry(t);
  const read = (await readEntryState(spool, id, { stamp: true }))!;
  const hold = await runCli(['hold', id], { home });
  assert.equal(hold.code, 0, hold.stderr);
  let seen: EntryState | null = null;
  await updateEntryState(spool, id, (current) => ((seen = current), null), { known: read });
  assert.equal(seen!.held, true);
  const held = (await readEntryState(spool, id, { stamp: true }))!;
  assert.equal(isStateCurrent(spool, held), true);
  const removed = await runCli(['delete', '--yes', id], { home });
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(isStateCurrent(spool, held), false);
  let called = false;
  assert.equal(await updateEntryState(spool, id, () => ((called = true), null), { known: held }), null);
  assert.equal(called, false, 'a deleted entry is not changed from a state held in memory');
});

test('an update without `known` stamps nothing it only read; what it writes carries the version renamed into place', async (t) => {
  const { spool, id } = await oneEntry(t);
  const back = await updateEntryState(spool, id, () => null);
  assert.ok(back !== null);
  assert.equal(isStateCurrent(spool, back), false, 'read for a caller that reuses nothing: no fstat spent on it');
  const written = (await updateEntryState(spool, id, (current) => ({ ...current, subject: 'again' })))!;
  assert.equal(isStateCurrent(spool, written), true, 'the stamp taken through the renamed file matches its path');
  await writeEntryState(spool, { ...written, subject: 'by someone else' });
  assert.equal(isStateCurrent(spool, written), false);
});
