import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { makeTempHome } from '../support/home.js';
import {
  enqueueMessage,
  entryBusyLockPath,
  entryStateLockPath,
  instanceLockPath,
  lockHolder,
  listEntryIds,
  messagePath,
  openSpool,
  readEntryState,
  repairSpool,
  scanEntries,
  statePath,
  tryLock,
  updateEntryState,
  REMOVE_ENTRY,
  settleCommits,
} from '../../src/spool/index.js';
import { setHeld } from '../../src/model/transitions.js';
import { ROOT } from '../support/cli.js';

const MESSAGE = 'From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n';

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  return child.pid!;
}

test('enqueue commits message and state privately; the state file is the entry', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { id, size } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@x.org', 'B@X.ORG', 'c@y.org'], message: MESSAGE });
  assert.equal(size, Buffer.byteLength(MESSAGE));
  assert.equal(await fs.readFile(messagePath(spool, id), 'utf8'), MESSAGE);
  const state = await readEntryState(spool, id);
  assert.deepEqual(state?.recipients.map((r) => [r.address, r.status]), [['b@x.org', 'pending'], ['B@x.org', 'pending'], ['c@y.org', 'pending']]);
  assert.equal((await fs.stat(spool.root)).mode & 0o777, 0o700);
  assert.equal((await fs.stat(statePath(spool, id))).mode & 0o777, 0o600);
  assert.equal((await fs.stat(messagePath(spool, id))).mode & 0o777, 0o600);
  // Once the after-work ran (state/<b> fsynced, then the pending name removed).
  await settleCommits();
  assert.deepEqual(await fs.readdir(spool.tmp), [], 'nothing left in tmp/');
  assert.deepEqual(await listEntryIds(spool), [id]);
});

test('a spool left group-readable is made private again', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await fs.mkdir(path.join(home, 'spool'), { mode: 0o755 });
  await fs.chmod(path.join(home, 'spool'), 0o755);
  const spool = await openSpool(home);
  assert.equal((await fs.stat(spool.root)).mode & 0o777, 0o700);
});

test('bad envelopes and empty or oversized messages are refused with exit 65, leaving nothing', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const cases = [
    { from: 'not an address', recipients: ['b@x.org'], message: MESSAGE },
    { from: 'a@x.org', recipients: ['b@x.org>\r\nRCPT TO:<evil@x.org'], message: MESSAGE },
    { from: 'a@x.org', recipients: [], message: MESSAGE },
    { from: 'a@x.org', recipients: ['b@x.org'], message: '' },
    { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE, maxSize: 10 },
  ];
  for (const request of cases) {
    await assert.rejects(enqueueMessage(spool, request), (err: Error & { exitCode?: number }) => err.exitCode === 65);
  }
  assert.deepEqual(await listEntryIds(spool), []);
  assert.deepEqual(await fs.readdir(spool.tmp), []);
  for (const bucket of await fs.readdir(spool.msg)) assert.deepEqual(await fs.readdir(path.join(spool.msg, bucket)), []);
});

test('small chunks gathered into one write and large ones written as they come: the stored bytes are exactly the message', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  // Sizes around the 16 KiB gathering threshold, in an order that crosses it every way.
  const sizes = [14, 2, 9, 16_000, 500, 16_384, 3, 20_000, 1, 16_383, 70_000, 7, 8_000, 8_385, 1];
  const parts = sizes.map((n, i) => Buffer.alloc(n, 97 + (i % 26)));
  async function* chunks() {
    yield 'Subject: mixed\r\n\r\n';
    for (const part of parts) yield part;
  }
  const { id, size } = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: chunks() });
  const expected = Buffer.concat([Buffer.from('Subject: mixed\r\n\r\n'), ...parts]);
  assert.equal(size, expected.length);
  assert.ok((await fs.readFile(messagePath(spool, id))).equals(expected));
});

test('a streamed message is written as it arrives', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  async function* chunks() {
    yield 'Subject: big\r\n\r\n';
    for (let i = 0; i < 100; i++) yield Buffer.alloc(10_000, 'x');
  }
  const { id, size } = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: chunks() });
  assert.equal(size, 16 + 1_000_000);
  assert.equal((await fs.stat(messagePath(spool, id))).size, size);
});

test('crash points: killed before the commit\'s link leaves no entry, and repair queues nothing (never acknowledged); after it, the entry exists and repair removes its pending name', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const script = `import { openSpool, enqueueMessage } from ${JSON.stringify(path.join(ROOT, 'src/spool/index.ts'))};
    const spool = await openSpool(process.argv[1]);
    await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: 'Subject: x\\r\\n\\r\\nbody\\r\\n' });`;
  // [point, entries visible after the kill, entries after repair]
  for (const [point, entries, repaired] of [
    ['enqueue-after-message-rename', 0, 0],
    ['enqueue-after-fsync-round', 0, 0],
    ['enqueue-after-commit-link', 1, 1],
  ] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, home], {
      env: { ...process.env, BULKMAILER_CRASH_AT: point },
      cwd: ROOT,
    });
    const [, signal] = await once(child, 'exit');
    assert.equal(signal, 'SIGKILL', point);
    assert.equal((await listEntryIds(spool)).length, entries, point);
    // Repair clears what the dead writer left (orphans only when old enough), or finishes its commit.
    const report = await repairSpool(spool, Date.now() + 3_600_000);
    assert.deepEqual(await fs.readdir(spool.tmp), [], `${point}: tmp/ cleaned`);
    assert.equal((await listEntryIds(spool)).length, repaired, `${point}: after repair`);
    assert.equal(report.commitsCompleted.length, repaired - entries, `${point}: commits completed`);
    for (const bucket of await fs.readdir(spool.msg)) {
      for (const id of await fs.readdir(path.join(spool.msg, bucket))) assert.ok((await listEntryIds(spool)).includes(id), `${point}: no orphan left`);
    }
    for (const id of await listEntryIds(spool)) await fs.rm(statePath(spool, id));
    await repairSpool(spool, Date.now() + 3_600_000);
  }
});

test('repair removes a message without a state file once it is old enough, and no message that has one', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push((await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE })).id);
  // The commits' after-work done: no pending name in tmp/ keeps a message from being an orphan.
  await settleCommits();
  const orphan = ids[17]!;
  await fs.rm(statePath(spool, orphan));
  const young = await repairSpool(spool, Date.now());
  assert.equal(young.orphanMessagesRemoved, 0, 'an enqueue may be between its message\'s rename and its commit');
  await fs.access(messagePath(spool, orphan));
  const old = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(old.orphanMessagesRemoved, 1);
  await assert.rejects(fs.access(messagePath(spool, orphan)), { code: 'ENOENT' });
  for (const id of ids) if (id !== orphan) await fs.access(messagePath(spool, id));
  assert.equal((await listEntryIds(spool)).length, 39);
});

test('a corrupt state file, or one without its message, is quarantined and the rest is read', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const good = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE });
  const torn = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE });
  const lost = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE });
  await fs.writeFile(statePath(spool, torn.id), '{"version":1,"id":');
  await fs.rm(messagePath(spool, lost.id));
  const reported: string[] = [];
  const seen: string[] = [];
  for await (const s of scanEntries(spool, { quarantine: true, onCorrupt: (id) => reported.push(id) })) seen.push(s.id);
  assert.deepEqual(seen, [good.id]);
  assert.deepEqual(reported.sort(), [torn.id, lost.id].sort());
  const corrupt = await fs.readdir(spool.corrupt);
  assert.ok(corrupt.some((f) => f.startsWith(torn.id) && f.endsWith('.json')));
  assert.ok(corrupt.some((f) => f.startsWith(torn.id) && f.endsWith('.msg')));
  assert.ok(corrupt.some((f) => f.startsWith(lost.id) && f.endsWith('.reason.txt')));
  assert.deepEqual(await listEntryIds(spool), [good.id]);
});

test('locks: held by a live process, taken over from a dead one, released', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const file = instanceLockPath(spool);
  const first = tryLock(file);
  assert.ok(first.acquired);
  const second = tryLock(file);
  assert.equal(second.acquired, false);
  assert.equal(second.acquired ? 0 : second.owner?.pid, process.pid);
  if (first.acquired) first.lock.release();
  const pid = await deadPid();
  await fs.symlink(JSON.stringify({ pid, boot: 'x', since: new Date().toISOString() }), file);
  const takeover = tryLock(file);
  assert.ok(takeover.acquired, 'a lock of a dead pid (from another boot) is taken over');
  if (takeover.acquired) takeover.lock.release();
  await assert.rejects(fs.lstat(file));
});

test('locks: anything that is not a lock record (a regular file, a foreign link) is stale, and repair sweeps it', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const file = instanceLockPath(spool);
  await fs.writeFile(file, JSON.stringify({ pid: process.pid, boot: 'x', since: new Date().toISOString() }));
  assert.equal(lockHolder(file), null, 'a regular file is no lock: no release ever wrote one');
  const taken = tryLock(file);
  assert.ok(taken.acquired);
  if (taken.acquired) taken.lock.release();
  const busy = entryBusyLockPath(spool, '0mx1rl36i6fyothr3');
  await fs.symlink('not json', busy);
  const live = tryLock(entryStateLockPath(spool, '0mx1rl36i6fyothr3'));
  assert.ok(live.acquired);
  const report = await repairSpool(spool);
  assert.equal(report.locksRemoved, 1, 'the garbage link goes, the live lock stays');
  await assert.rejects(fs.lstat(busy));
  assert.equal(lockHolder(entryStateLockPath(spool, '0mx1rl36i6fyothr3'))?.pid, process.pid);
  if (live.acquired) live.lock.release();
});

test('concurrent updates of one entry from several writers lose nothing', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { id } = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE });
  // Each writer appends its mark to the subject; a lost update would drop one.
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      updateEntryState(spool, id, (s) => setHeld({ ...s, subject: `${s.subject ?? ''}[${i}]` }, i % 2 === 0)),
    ),
  );
  const state = await readEntryState(spool, id);
  for (let i = 0; i < 20; i++) assert.ok(state?.subject?.includes(`[${i}]`), `update ${i} kept`);
});

test('a removal under the state lock can never be undone by a concurrent update', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  for (let i = 0; i < 20; i++) {
    const { id } = await enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: MESSAGE });
    const [held, removed] = await Promise.all([
      updateEntryState(spool, id, (s) => setHeld(s, true)),
      updateEntryState(spool, id, () => REMOVE_ENTRY),
    ]);
    assert.equal(removed, null);
    assert.ok(held === null || held.held, 'the hold either landed before the removal or found nothing');
    assert.equal(await readEntryState(spool, id), null, `round ${i}: the entry stays removed`);
    await assert.rejects(fs.stat(messagePath(spool, id)));
  }
});

test('a lock naming our own pid that we did not take (a restarted container) is stale; release never removes a successor', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const file = instanceLockPath(spool);
  const { readFileSync, symlinkSync, readlinkSync } = await import('node:fs');
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  symlinkSync(JSON.stringify({ pid: process.pid, boot, since: new Date(0).toISOString() }), file);
  const taken = tryLock(file);
  assert.ok(taken.acquired, 'the earlier process with our pid is gone: its lock is taken over');
  if (!taken.acquired) return;
  // Someone takes the lock over behind our back (we were thought dead); our release must leave it.
  await fs.rm(file);
  symlinkSync(JSON.stringify({ pid: 1, boot, since: new Date().toISOString() }), file);
  taken.lock.release();
  assert.match(readlinkSync(file), /"pid":1/);
});
