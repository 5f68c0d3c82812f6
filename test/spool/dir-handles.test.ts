/**
 * Directory handles kept open for the enqueue path's directory fsyncs
 * (src/spool/dir-handles.ts): one handle per directory however often it is
 * fsynced, a bound on how many stay open, and never a handle closed while
 * an fsync runs on it (its number could be reused by another file). A
 * one-shot enqueue (the sendmail command, `bulkmailer enqueue`) keeps none:
 * it opens, fsyncs and closes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DirHandles } from '../../src/spool/dir-handles.js';
import os from 'node:os';
import type { TestContext } from 'node:test';
import { tick } from '../support/manual-fsync.js';
import { makeTempHome } from '../support/home.js';
import { enqueueMessage, listEntryIds, openSpool, settleCommits } from '../../src/spool/index.js';
import { messageDir, stateDir } from '../../src/spool/paths.js';
import { submitMessage } from '../../src/frontends/submit-message.js';

/** The descriptors this process has open on `dir` (Linux's /proc). */
function openHandlesOn(dir: string): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === dir) count++;
    } catch {
      /* the readdir's own descriptor, closed by now */
    }
  }
  return count;
}

function tempRoot(t: TestContext): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkmailer-dir-handles-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

function makeDirs(root: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const dir = path.join(root, `d${i}`);
    fs.mkdirSync(dir);
    return fs.realpathSync(dir);
  });
}

test('a directory fsynced again and again is opened once, and its handle stays open', async (t) => {
  const root = tempRoot(t);
  const [dir] = makeDirs(root, 1);
  const handles = new DirHandles();
  for (let i = 0; i < 5; i++) await handles.fsyncDir(dir!);
  assert.equal(openHandlesOn(dir!), 1);
  assert.equal(handles.size, 1);
});

test('past the bound the least recently used handles are closed', async (t) => {
  const root = tempRoot(t);
  const dirs = makeDirs(root, 6);
  const handles = new DirHandles(4);
  for (const dir of dirs.slice(0, 4)) await handles.fsyncDir(dir);
  await handles.fsyncDir(dirs[0]!); // d0 is now the most recently used; d1 the least
  await handles.fsyncDir(dirs[4]!);
  await handles.fsyncDir(dirs[5]!);
  assert.equal(handles.size, 4);
  assert.deepEqual(
    dirs.map((dir) => openHandlesOn(dir)),
    [1, 0, 0, 1, 1, 1],
    'd1 and d2 (least recently used) were closed, d0 kept',
  );
});

test('a handle whose fsync is running is not closed to make room: the bound waits until it is idle', async (t) => {
  const root = tempRoot(t);
  const dirs = makeDirs(root, 4);
  const pending: (() => void)[] = [];
  const handles = new DirHandles(2, () => new Promise<void>((resolve) => pending.push(resolve)));
  const running = [handles.fsyncDir(dirs[0]!), handles.fsyncDir(dirs[1]!)];
  await tick();
  running.push(handles.fsyncDir(dirs[2]!));
  await tick();
  assert.equal(pending.length, 3, 'three fsyncs running at once');
  assert.deepEqual(dirs.map((dir) => openHandlesOn(dir)), [1, 1, 1, 0], 'past the bound, but no running fsync lost its handle');
  for (const finish of pending.splice(0)) finish();
  await Promise.all(running);
  const fourth = handles.fsyncDir(dirs[3]!);
  await tick();
  pending.shift()!();
  await fourth;
  assert.deepEqual(dirs.map((dir) => openHandlesOn(dir)), [0, 0, 1, 1], 'once idle, the least recently used go');
});

test('handles nobody has used for a while are closed, so an idle process holds no spool busy', async (t) => {
  const root = tempRoot(t);
  const [dir] = makeDirs(root, 1);
  const handles = new DirHandles(64, undefined, 20);
  await handles.fsyncDir(dir!);
  assert.equal(openHandlesOn(dir!), 1);
  for (let waited = 0; openHandlesOn(dir!) > 0 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.equal(openHandlesOn(dir!), 0, 'closed once idle');
  assert.equal(handles.size, 0);
  await handles.fsyncDir(dir!);
  assert.equal(openHandlesOn(dir!), 1, 'opened again when needed');
  handles.release();
  assert.equal(openHandlesOn(dir!), 0, 'release() closes at once');
});

/** A fresh spool, and the real paths of the two directories an enqueue fsyncs (its message's bucket, tmp/) and of its state's bucket. */
async function spoolFor(t: TestContext) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const syncedDirs = (id: string) => [fs.realpathSync(messageDir(spool, id)), fs.realpathSync(spool.tmp)];
  const stateBucket = (id: string) => fs.realpathSync(stateDir(spool, id));
  return { home, spool, syncedDirs, stateBucket };
}

const MESSAGE = 'From: list@example.org\r\nSubject: one\r\n\r\nHello.\r\n';

test('an enqueue keeps the two directories it fsyncs (msg/<b>, tmp/) open for the next one; an enqueue into a spool opened for enqueueing only (one-shot) closes them before it resolves', async (t) => {
  const kept = await spoolFor(t);
  const plain = await enqueueMessage(kept.spool, { from: 'list@example.org', recipients: ['a@example.net'], message: MESSAGE });
  assert.deepEqual(kept.syncedDirs(plain.id).map((dir) => openHandlesOn(dir)), [1, 1], 'kept for the next enqueue (the control)');
  // After the acknowledgement, state/<b> is fsynced (then the pending name removed) through a kept handle too.
  await settleCommits();
  assert.equal(openHandlesOn(kept.stateBucket(plain.id)), 1, 'state/<b>, fsynced after the commit\'s link, kept too');

  // One-shot: the spool says so, as it was opened for enqueueing only (the request need not).
  const once = await spoolFor(t);
  const enqueueOnly = await openSpool(once.home, { only: 'enqueue' });
  assert.equal(enqueueOnly.oneShot, true);
  assert.equal(once.spool.oneShot, undefined, 'a full open is not one-shot');
  const oneShot = await enqueueMessage(enqueueOnly, { from: 'list@example.org', recipients: ['a@example.net'], message: MESSAGE });
  await settleCommits();
  assert.deepEqual([...once.syncedDirs(oneShot.id), once.stateBucket(oneShot.id)].map((dir) => openHandlesOn(dir)), [0, 0, 0], 'nothing kept: no handle, no idle timer');
  assert.deepEqual(await listEntryIds(once.spool), [oneShot.id], 'queued all the same');
});

test('the sendmail command and `bulkmailer enqueue` submit one-shot: their enqueue keeps no directory open', async (t) => {
  const { home, spool, syncedDirs } = await spoolFor(t);
  const result = await submitMessage({ home, sender: 'list@example.org', recipients: ['a@example.net'], message: MESSAGE, oneShot: true, nudge: false });
  assert.deepEqual(syncedDirs(result.id).map((dir) => openHandlesOn(dir)), [0, 0]);
  assert.deepEqual(await listEntryIds(spool), [result.id]);
});
