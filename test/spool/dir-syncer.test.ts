/**
 * The group fsync of removals (src/spool/dir-syncer.ts) when an fsync
 * fails (issue 11 item 2), through its fsync seam: a round the timer
 * started reports to onFailure instead of rejecting unhandled, every caller
 * waiting on a failed round gets the error, and no later round fsyncs
 * again or inherits a rejection by accident; by default, through handles
 * kept open from one round to the next. The real failure, through the
 * real binaries, is in test/flush/fsync-failure.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DirSyncer } from '../../src/spool/dir-syncer.js';
import { releaseDirHandles } from '../../src/spool/dir-handles.js';
import { makeTempHome } from '../support/home.js';
import { BulkmailerError } from '../../src/errors.js';
import { manualFsync, tick } from '../support/manual-fsync.js';

const eio = () => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', syscall: 'fsync', errno: -5 });

test("a failed fsync of the timer's round reaches onFailure, not an unhandled rejection; later syncs get the same error without fsyncing", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    let fsyncs = 0;
    const failures: BulkmailerError[] = [];
    const syncer = new DirSyncer({
      fsync: async () => {
        fsyncs++;
        throw eio();
      },
      onFailure: (err) => failures.push(err),
    });
    const failed = new Promise<void>((resolve) => {
      const poll = () => (failures.length > 0 ? resolve() : setTimeout(poll, 5));
      poll();
    });
    syncer.markDirty('/spool/state/3');
    await failed;
    // Give a stray rejection the turns it needs to be reported.
    await tick();
    await tick();
    assert.deepEqual(unhandled, []);
    assert.equal(failures.length, 1);
    const failure = failures[0]!;
    assert.ok(failure instanceof BulkmailerError);
    assert.equal(failure.exitCode, 74);
    assert.equal(failure.temporary, true);
    assert.match(failure.message, /delivery stopped: the removal of delivered entries could not be made durable \(fsync of \/spool\/state\/3\): input\/output error/);
    assert.equal(syncer.error, failure);

    // More removals after the failure: no timer, and the final sync rejects with the first error, fsyncing nothing.
    syncer.markDirty('/spool/state/4');
    await assert.rejects(syncer.sync(), (err) => err === failure);
    assert.equal(fsyncs, 1);
    assert.equal(failures.length, 1, 'onFailure hears the first failure once');
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('every caller waiting on a failed round gets its error, and a round queued behind it fails without an fsync', async () => {
  const { calls, fsync } = manualFsync();
  const syncer = new DirSyncer({ fsync });
  syncer.markDirty('/a');
  syncer.markDirty('/b');
  const first = syncer.sync();
  await tick();
  assert.deepEqual(calls.map((c) => c.dir), ['/a', '/b']);
  syncer.markDirty('/c');
  const second = syncer.sync();
  // /a fails; /b is still running: the round reports once both have ended.
  calls[0]!.finish(eio());
  await tick();
  let settled = false;
  first.catch(() => {}).finally(() => (settled = true));
  await tick();
  assert.equal(settled, false, 'the round waits for its last fsync before it reports');
  calls[1]!.finish();
  const errors = await Promise.allSettled([first, second]);
  assert.deepEqual(errors.map((r) => r.status), ['rejected', 'rejected']);
  const [a, b] = errors as PromiseRejectedResult[];
  assert.equal(a!.reason, b!.reason, 'one error, the first one');
  assert.match((a!.reason as Error).message, /fsync of \/a/);
  assert.equal(calls.length, 2, 'the queued round did not fsync /c after the failure');
});

test('rounds that succeed resolve in order, each after its own fsyncs', async () => {
  const { calls, fsync } = manualFsync();
  const syncer = new DirSyncer({ fsync });
  syncer.markDirty('/a');
  const first = syncer.sync();
  syncer.markDirty('/b');
  const second = syncer.sync();
  await tick();
  assert.deepEqual(calls.map((c) => c.dir), ['/a'], 'the second round waits for the first');
  calls[0]!.finish();
  await first;
  await tick();
  assert.deepEqual(calls.map((c) => c.dir), ['/a', '/b']);
  calls[1]!.finish();
  await second;
  assert.equal(syncer.error, null);
  // The timer's round: markDirty alone makes the directory durable soon after, with nobody calling sync().
  const timedDirs: string[] = [];
  const timed = new DirSyncer({ fsync: async (dir) => void timedDirs.push(dir) });
  timed.markDirty('/t');
  await new Promise<void>((resolve) => {
    const poll = () => (timedDirs.length > 0 ? resolve() : setTimeout(poll, 5));
    poll();
  });
  assert.deepEqual(timedDirs, ['/t']);
});

/** The descriptors of this process open on `dir` (Linux: /proc/self/fd). */
function fdsOn(dir: string): string[] {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === dir;
    } catch {
      return false; // the directory listing's own descriptor, closed meanwhile
    }
  });
}

test('by default each round fsyncs through a handle kept open for the next round, one per directory, and the fsync fails as fsync(2) does', async () => {
  const { home, cleanup } = await makeTempHome();
  try {
    const dir = fs.realpathSync(home);
    const syncer = new DirSyncer();
    syncer.markDirty(dir);
    await syncer.sync();
    const kept = fdsOn(dir);
    assert.equal(kept.length, 1, 'the directory was not kept open after its fsync');
    syncer.markDirty(dir);
    await syncer.sync();
    assert.deepEqual(fdsOn(dir), kept, 'the next round opened the directory again');
    releaseDirHandles();
    assert.deepEqual(fdsOn(dir), []);
    // A directory that is not there fails the round with the file system's error.
    const failing = new DirSyncer();
    failing.markDirty(`${dir}/gone`);
    await assert.rejects(failing.sync(), /fsync of .*gone.*not what the spool expects/);
  } finally {
    releaseDirHandles();
    await cleanup();
  }
});
