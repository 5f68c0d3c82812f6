import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempHome } from '../support/home.js';
import { openSpool, tryLock, entryBusyLockPath } from '../../src/spool/index.js';
import { prepareEntryLockDir } from '../../src/spool/entry-lock-dir.js';
import { entryLockDir } from '../../src/spool/paths.js';

test('entry locks live behind spool/lock/entries: a private tmpfs directory on Linux', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const link = entryLockDir(spool);
  const target = fs.readlinkSync(link);
  assert.match(target, /^\/dev\/shm\/bulkmailer-\d+-[0-9a-f]{16}$/);
  assert.equal(fs.statSync(target).mode & 0o777, 0o700);
  const lock = tryLock(entryBusyLockPath(spool, '0mx1rl36i6fyothr3'));
  assert.ok(lock.acquired);
  assert.ok(fs.lstatSync(`${target}/0mx1rl36i6fyothr3.busy`).isSymbolicLink(), 'the lock is on tmpfs');
  if (lock.acquired) lock.lock.release();

  // After a reboot the tmpfs directory is gone: it is made again, by a lock or by the next open.
  fs.rmSync(target, { recursive: true });
  const again = tryLock(entryBusyLockPath(spool, '0mx1rl36i6fyothr3'));
  assert.ok(again.acquired);
  if (again.acquired) again.lock.release();
  fs.rmSync(target, { recursive: true });
  prepareEntryLockDir(spool);
  assert.equal(fs.statSync(target).mode & 0o777, 0o700);
});

test('a tmpfs directory that is not private (or not ours) is not trusted: a real directory in the spool instead', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const link = entryLockDir(spool);
  const target = fs.readlinkSync(link);
  fs.rmSync(target, { recursive: true });
  fs.mkdirSync(target, { mode: 0o777 });
  fs.chmodSync(target, 0o777);
  t.after(() => fs.rmSync(target, { recursive: true, force: true }));
  prepareEntryLockDir(spool);
  const stat = fs.lstatSync(link);
  assert.ok(stat.isDirectory() && !stat.isSymbolicLink(), 'replaced by a real directory');
  assert.equal(stat.mode & 0o777, 0o700);
  const lock = tryLock(entryBusyLockPath(spool, '0mx1rl36i6fyothr3'));
  assert.ok(lock.acquired);
  if (lock.acquired) lock.lock.release();
});

test('a temp home’s cleanup removes the tmpfs lock directories of the homes made in it, one named `spool` too (tests leave nothing in /dev/shm)', async () => {
  const { home, cleanup } = await makeTempHome();
  const homes = [home, path.join(home, 'a'), path.join(home, 'spool'), path.join(home, 'install', 'b')];
  const targets: string[] = [];
  for (const dir of homes) targets.push(fs.readlinkSync(entryLockDir(await openSpool(dir))));
  assert.equal(new Set(targets).size, homes.length);
  for (const target of targets) assert.ok(fs.statSync(target).isDirectory());
  await cleanup();
  for (const [i, target] of targets.entries()) assert.equal(fs.existsSync(target), false, `the lock directory of ${homes[i]} is left in /dev/shm`);
});
