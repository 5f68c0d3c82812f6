/**
 * Where the per-entry locks live: spool/lock/entries, which on Linux is a
 * symbolic link to a private directory on tmpfs (/dev/shm).
 *
 * Why: a flush takes and drops two entry locks per message. On ext4 each
 * create and unlink is a journaled metadata operation that waits behind the
 * journal commits of the flush's own fsyncs; on tmpfs it is a memory
 * operation. Measured: the 2,000-message drain went from ~2.4-3.6 s to
 * ~1.8-2.0 s (docs/performance.md). Entry locks are only meaningful among
 * live processes, so losing them at reboot is right.
 *
 * Why a link in the spool rather than each process choosing a directory:
 * every process resolves the same path, spool/lock/entries, so all agree on
 * where the locks are even if one of them could not see /dev/shm. Whoever
 * opens the spool first creates the link; after a reboot the target is
 * re-created. If the target cannot be trusted (another user made it, or it
 * is not a private directory), the link is replaced by a real directory in
 * the spool, which every process then uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { entryLockDir, spoolLayout, type Spool } from './paths.js';

const RUNTIME_BASE = '/dev/shm';

function isPrivateDirOfOurs(dir: string): boolean {
  try {
    const stat = fs.lstatSync(dir);
    const ours = typeof process.getuid !== 'function' || stat.uid === process.getuid();
    return stat.isDirectory() && ours && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

function runtimeTarget(spool: Spool): string | null {
  if (process.platform !== 'linux' || typeof process.getuid !== 'function') return null;
  try {
    if (!fs.statSync(RUNTIME_BASE).isDirectory()) return null;
  } catch {
    return null;
  }
  const hash = createHash('sha256').update(fs.realpathSync(spool.root)).digest('hex').slice(0, 16);
  return path.join(RUNTIME_BASE, `bulkmailer-${process.getuid()}-${hash}`);
}

/** Makes `target` a private directory of ours; false if it is someone else's or not a directory. */
function ensureTarget(target: string): boolean {
  try {
    fs.mkdirSync(target, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  return isPrivateDirOfOurs(target);
}

function useRealDirectory(link: string): void {
  try {
    fs.unlinkSync(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    fs.mkdirSync(link, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Called by openSpool: makes spool/lock/entries usable. */
export function prepareEntryLockDir(spool: Spool): void {
  const link = entryLockDir(spool);
  for (let round = 0; round < 3; round++) {
    let stat: fs.Stats | null = null;
    try {
      stat = fs.lstatSync(link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (stat?.isDirectory()) return; // a real directory: the fallback, used by everyone
    if (stat?.isSymbolicLink()) {
      if (ensureTarget(fs.readlinkSync(link))) return;
      useRealDirectory(link);
      return;
    }
    const target = runtimeTarget(spool);
    if (target === null || !ensureTarget(target)) {
      useRealDirectory(link);
      return;
    }
    try {
      fs.symlinkSync(target, link);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process made it meanwhile: check what it made.
    }
  }
}

/**
 * For throwaway homes (the demo, tests): removes the tmpfs directory behind
 * lock/entries, which removing the home itself would leave behind.
 */
export function removeEntryLockTarget(home: string): void {
  const link = entryLockDir(spoolLayout(home));
  try {
    const target = fs.readlinkSync(link);
    if (path.basename(target).startsWith('bulkmailer-')) fs.rmSync(target, { recursive: true, force: true });
  } catch {
    /* no link: nothing outside the home to remove */
  }
}
