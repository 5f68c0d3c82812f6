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

/** What is wrong with `target` as our lock directory, in words. */
function describeUntrusted(target: string): string {
  try {
    const stat = fs.lstatSync(target);
    if (stat.isSymbolicLink()) return 'it is a symbolic link';
    if (!stat.isDirectory()) return 'it is not a directory';
    if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) return `it belongs to uid ${stat.uid}`;
    return `its mode is ${(stat.mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch (err) {
    return `it cannot be made (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

/**
 * Makes spool/lock/entries usable: called by every spool open and again by
 * repair at every flusher start, so the tmpfs directory's owner and mode are
 * checked when a flush is about to use it, not only when the process began.
 * Returns a warning when a target could not be trusted and entry locks moved
 * to a real directory in the spool, else null.
 */
export function prepareEntryLockDir(spool: Spool): string | null {
  const link = entryLockDir(spool);
  const fallBack = (target: string) => {
    const why = describeUntrusted(target);
    useRealDirectory(link);
    return `entry lock directory ${target} is not a private directory of yours (${why}): entry locks now live in ${link}`;
  };
  for (let round = 0; round < 3; round++) {
    let stat: fs.Stats | null = null;
    try {
      stat = fs.lstatSync(link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (stat?.isDirectory()) return null; // a real directory: the fallback, used by everyone
    if (stat?.isSymbolicLink()) {
      const target = fs.readlinkSync(link);
      return ensureTarget(target) ? null : fallBack(target);
    }
    const target = runtimeTarget(spool);
    if (target === null) {
      useRealDirectory(link);
      return null;
    }
    if (!ensureTarget(target)) return fallBack(target);
    try {
      fs.symlinkSync(target, link);
      return null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process made it meanwhile: check what it made.
    }
  }
  return null;
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
