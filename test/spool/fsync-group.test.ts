/**
 * Group commit of concurrent enqueues (src/spool/fsync-group.ts): a shared
 * directory fsync covers only the renames made before it began; enqueues
 * that overlap share a bucket; many parallel enqueues all end up whole and
 * durable; a writer killed in the middle of a group leaves only complete
 * entries (promise 1: nothing is acknowledged before its own fsyncs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { makeTempHome } from '../support/home.js';
import { ROOT } from '../support/cli.js';
import { DirFsyncGroup, joinCommitGroup } from '../../src/spool/fsync-group.js';
import { bucketOf } from '../../src/model/queue-id.js';
import { enqueueMessage, listEntryIds, messagePath, openSpool, readEntryState, repairSpool, settleCommits, statePath } from '../../src/spool/index.js';
import { manualFsync, tick } from '../support/manual-fsync.js';

test('a grouped fsync covers only callers that came before it began; later ones share the next', async () => {
  const { calls, fsync } = manualFsync();
  const group = new DirFsyncGroup(fsync);
  const done: string[] = [];
  const a = group.sync('/d').then(() => done.push('a'));
  await tick();
  assert.equal(calls.length, 1, 'the first caller starts an fsync at once');
  // b and c arrive while it runs: their renames may be after its start.
  const b = group.sync('/d').then(() => done.push('b'));
  const c = group.sync('/d').then(() => done.push('c'));
  const other = group.sync('/e').then(() => done.push('e'));
  await tick();
  assert.deepEqual(calls.map((x) => x.dir), ['/d', '/e'], 'one running fsync per directory; b and c wait');
  calls[0]!.finish();
  await a;
  await tick();
  assert.deepEqual(done, ['a'], 'b and c are not covered by the fsync that was running when they asked');
  assert.equal(calls.length, 3, 'the next fsync of /d starts when the running one ends');
  assert.equal(calls[2]!.dir, '/d');
  calls[2]!.finish();
  await Promise.all([b, c]);
  assert.deepEqual(done.slice(1).sort(), ['b', 'c'], 'b and c share one fsync');
  calls[1]!.finish();
  await other;
  assert.equal(calls.length, 3, '4 callers, 3 fsyncs');
});

test('a failed grouped fsync fails every caller that shared it, and the next one starts afresh', async () => {
  const { calls, fsync } = manualFsync();
  const group = new DirFsyncGroup(fsync);
  const first = group.sync('/d');
  const second = group.sync('/d');
  const third = group.sync('/d');
  await tick();
  calls[0]!.finish();
  await first;
  await tick();
  calls[1]!.finish(new Error('EIO'));
  await assert.rejects(second, /EIO/);
  await assert.rejects(third, /EIO/);
  const fourth = group.sync('/d');
  await tick();
  assert.equal(calls.length, 3);
  calls[2]!.finish();
  await fourth;
});

test('enqueues that overlap in time share a bucket; an idle process starts a new group', () => {
  const a = joinCommitGroup();
  const b = joinCommitGroup();
  assert.equal(a.bucket, b.bucket);
  assert.match(a.bucket, /^[0-9a-f]$/);
  a.leave();
  a.leave(); // idempotent
  const c = joinCommitGroup();
  assert.equal(c.bucket, b.bucket, 'b is still enqueueing');
  b.leave();
  c.leave();
  // A busy group moves on after a bounded run, so a long burst spreads over buckets.
  const members = Array.from({ length: 300 }, () => joinCommitGroup());
  assert.ok(new Set(members.map((m) => m.bucket)).size > 1);
  for (const m of members) m.leave();
});

test('many parallel enqueues all end up whole, in few directories', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      enqueueMessage(spool, { from: 'a@x.org', recipients: [`r${i}@x.org`], message: `Subject: ${i}\r\n\r\nbody ${i}\r\n` }),
    ),
  );
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 40);
  for (const r of results) {
    const state = await readEntryState(spool, r.id);
    assert.ok(state);
    assert.equal((await fs.stat(messagePath(spool, r.id))).size, r.size);
  }
  assert.ok(new Set(ids.map(bucketOf)).size <= 2, 'concurrent enqueues share their bucket');
  // The after-work (state/<bucket> fsynced, then the pending names removed) runs past the acknowledgement.
  await settleCommits();
  assert.deepEqual(await fs.readdir(spool.tmp), []);
});

test('a writer killed between a group\'s fsyncs and its acknowledgement leaves only whole entries', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  // 20 parallel enqueues; the first to reach the crash point kills the process.
  const script = `import { openSpool, enqueueMessage } from ${JSON.stringify(path.join(ROOT, 'src/spool/index.ts'))};
    const spool = await openSpool(process.argv[1]);
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      enqueueMessage(spool, { from: 'a@x.org', recipients: ['b@x.org'], message: 'Subject: ' + i + '\\r\\n\\r\\n' + 'x'.repeat(5000) + '\\r\\n' })));`;
  for (const point of ['enqueue-after-fsync-round', 'enqueue-after-commit-link'] as const) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, home], {
      env: { ...process.env, BULKMAILER_CRASH_AT: point },
      cwd: ROOT,
    });
    const [, signal] = await once(child, 'exit');
    assert.equal(signal, 'SIGKILL', point);
    const ids = await listEntryIds(spool);
    if (point === 'enqueue-after-fsync-round') assert.equal(ids.length, 0, 'no commit renamed yet: no entry');
    else assert.ok(ids.length >= 1 && ids.length <= 20, `${point}: ${ids.length} entries`);
    for (const id of ids) {
      const state = await readEntryState(spool, id);
      assert.ok(state, `${point}: ${id} readable`);
      assert.equal((await fs.stat(messagePath(spool, id))).size, state.size, `${point}: ${id} message whole`);
    }
    // Pending commits without their entry were never linked, so never acknowledged: removed. Those with their
    // entry are finished (state/<bucket> fsynced, the pending name removed). Every entry after repair is whole.
    const report = await repairSpool(spool, Date.now() + 3_600_000);
    assert.deepEqual(await fs.readdir(spool.tmp), [], `${point}: tmp/ cleaned`);
    assert.deepEqual(report.commitsCompleted, [], `${point}: nothing of this boot is completed`);
    const after = await listEntryIds(spool);
    assert.deepEqual(after.sort(), ids.sort(), `${point}: repair keeps the committed entries, adds none`);
    if (point === 'enqueue-after-commit-link') assert.ok(after.length >= 1, `${point}: the enqueue that reached the point is queued`);
    for (const id of after) {
      const state = await readEntryState(spool, id);
      assert.ok(state, `${point}: ${id} readable after repair`);
      assert.equal((await fs.stat(messagePath(spool, id))).size, state.size, `${point}: ${id} message whole after repair`);
    }
    for (const id of after) {
      await fs.rm(statePath(spool, id));
      await fs.rm(messagePath(spool, id));
    }
  }
});
