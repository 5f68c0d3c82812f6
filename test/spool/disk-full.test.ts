/**
 * A real full disk (ENOSPC from a small tmpfs mounted over spool/): every
 * way in refuses with a clear "disk full" and stores nothing half-way; a
 * flush that cannot record an outcome stops with exit 73 and the spool stays
 * intact; once space is back, everything is delivered.
 *
 * Mounting needs root (CI runs as root); elsewhere this test says why it
 * cannot run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { startCaptureServer } from '../support/capture-server.js';
import { enqueueMessage, listEntryIds, listStateFileIdsIncludingFinished, openSpool, readEntryState, removeEntryLockTarget, settleCommits } from '../../src/spool/index.js';
import { releaseDirHandles } from '../../src/spool/dir-handles.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function fillDisk(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

test('a full disk: enqueue exits 73 leaving nothing; a flush refuses with 73, sends nothing and loses nothing', { skip: isRoot ? false : 'needs root to mount a small tmpfs' }, async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, cleanup } = await makeTempHome();
  const spoolDir = path.join(home, 'spool');
  fs.mkdirSync(spoolDir, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', spoolDir]);
  t.after(async () => {
    removeEntryLockTarget(home);
    releaseDirHandles(); // this process's enqueues keep the bucket directories open for their next fsync
    execFileSync('umount', [spoolDir]);
    await cleanup();
  });
  await writeConfig(home, { smarthost: server.url, concurrency: 1, maxRecipientsPerTransaction: 1 });
  const spool = await openSpool(home);
  const recipients = ['a@x.org', 'b@x.org', 'c@x.org'];
  for (let i = 0; i < 3; i++) {
    await enqueueMessage(spool, { from: 'list@example.org', recipients, message: `Subject: full ${i}\r\n\r\nbody\r\n` });
  }
  // This process's enqueues leave their pending names in tmp/ for up to 100 ms (the after-work,
  // enqueue.ts): settled first, so that what tmp/ holds below is the failed enqueue's alone.
  await settleCommits();
  const filler = fillDisk(spoolDir);

  const enqueue = await runCli(['enqueue', '-f', 'list@example.org', 'z@x.org'], { home, input: 'Subject: no room\n\nbody\n' });
  assert.equal(enqueue.code, 73, enqueue.stderr);
  assert.match(enqueue.stderr, /disk full/);
  assert.deepEqual(fs.readdirSync(spool.tmp), [], 'nothing half-written');
  assert.equal((await listEntryIds(spool)).length, 3);

  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 73, flush.stderr);
  assert.match(flush.stderr, /disk full/);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 3, 'no entry lost');
  for (const id of ids) assert.ok(await readEntryState(spool, id), 'every state file is still whole');
  assert.equal(server.messages.length, 0, 'nothing is sent while no outcome could be recorded');
  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 73, 'and again: no flush sends the same recipients over and over');
  const sentBeforeSpace = server.messages.length;

  fs.rmSync(filler);
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  const received = server.deliveriesByRecipient();
  for (const r of recipients) assert.ok((received.get(r) ?? 0) >= 3, `${r} got all three messages`);
  const duplicates = server.messages.length - 9;
  assert.equal(duplicates, sentBeforeSpace, 'duplicates only from the transaction whose outcome could not be recorded');
});
