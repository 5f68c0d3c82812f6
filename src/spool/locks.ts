/**
 * Lock files in spool/lock/: who holds what, and taking over what the dead
 * left behind.
 *
 * A lock is a file created exclusively (O_EXCL) holding its owner's pid, the
 * boot it belongs to and the time it was taken. It is stale when its pid is
 * gone, or when it was written before the last boot (a pid from before a
 * reboot can belong to anyone now). A stale lock is taken over under a short
 * guard lock, so two processes that find the same stale lock cannot both win.
 *
 * Locks in use:
 *   instance          the one flusher (`flush` or the agent) - promise 5
 *   <id>.state        a read-modify-write of one entry's state file (short)
 *   <id>.busy         the entry is being delivered (held for its transactions)
 *
 * Nothing here blocks for long: callers choose to fail (`tryLock`) or to
 * wait a bounded time (`lockWithin`).
 */
import fs from 'node:fs/promises';
import fsSync, { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BulkmailerError, ExitCode } from '../errors.js';
import type { Spool } from './paths.js';

export interface LockOwner {
  pid: number;
  boot: string;
  since: string;
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

export type LockAttempt = { acquired: true; lock: HeldLock } | { acquired: false; owner: LockOwner | null };

/** A file just created but not yet written is treated as held for this long. */
const UNWRITTEN_LOCK_GRACE_MS = 5_000;
/** A takeover guard older than this was left by a process that died mid-takeover. */
const TAKEOVER_GUARD_STALE_MS = 5_000;

let cachedBoot: string | undefined;

/** An identifier of the current boot: Linux's boot_id, else the boot time to the minute. */
export function currentBootId(): string {
  if (cachedBoot !== undefined) return cachedBoot;
  try {
    cachedBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    cachedBoot = `t${Math.round((Date.now() / 1000 - os.uptime()) / 60)}`;
  }
  return cachedBoot;
}

function sameBoot(a: string, b: string): boolean {
  if (a === b) return true;
  // Boot times computed from uptime may differ by a rounding step.
  if (a.startsWith('t') && b.startsWith('t')) return Math.abs(Number(a.slice(1)) - Number(b.slice(1))) <= 1;
  return false;
}

export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function instanceLockPath(spool: Spool): string {
  return path.join(spool.lock, 'instance');
}

export function entryStateLockPath(spool: Spool, id: string): string {
  return path.join(spool.lock, `${id}.state`);
}

export function entryBusyLockPath(spool: Spool, id: string): string {
  return path.join(spool.lock, `${id}.busy`);
}

export async function readLockOwner(file: string): Promise<LockOwner | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.boot === 'string' && typeof parsed.since === 'string') {
      return { pid: parsed.pid, boot: parsed.boot, since: parsed.since };
    }
  } catch {
    /* unreadable: decided by the caller from the file's age */
  }
  return null;
}

/** Live owner, or null when the lock is stale (or already gone). */
async function liveOwner(file: string): Promise<{ live: boolean; owner: LockOwner | null; gone: boolean }> {
  const owner = await readLockOwner(file);
  if (owner === null) {
    try {
      const stat = await fs.stat(file);
      // Created but not written yet by a live process, or left empty by a dead one.
      return { live: Date.now() - stat.mtimeMs < UNWRITTEN_LOCK_GRACE_MS, owner: null, gone: false };
    } catch {
      return { live: false, owner: null, gone: true };
    }
  }
  const live = sameBoot(owner.boot, currentBootId()) && isProcessAlive(owner.pid);
  return { live, owner, gone: false };
}

/** Synchronous on purpose: three tiny syscalls, cheaper than thread-pool hand-offs. */
async function createLockFile(file: string): Promise<boolean> {
  let fd: number;
  try {
    fd = fsSync.openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    const owner: LockOwner = { pid: process.pid, boot: currentBootId(), since: new Date().toISOString() };
    fsSync.writeSync(fd, JSON.stringify(owner));
  } finally {
    fsSync.closeSync(fd);
  }
  return true;
}

function heldLock(file: string): HeldLock {
  let released = false;
  return {
    path: file,
    async release() {
      if (released) return;
      released = true;
      try {
        fsSync.unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },
  };
}

/** Removes a stale lock under a guard, so only one process takes it over. */
async function removeStaleLock(file: string, staleOwner: LockOwner | null): Promise<void> {
  const guard = `${file}.takeover`;
  if (!(await createLockFile(guard))) {
    const stat = await fs.stat(guard).catch(() => null);
    if (stat !== null && Date.now() - stat.mtimeMs > TAKEOVER_GUARD_STALE_MS) await fs.rm(guard, { force: true });
    return; // someone else is taking it over; the caller sees it held or tries again
  }
  try {
    const again = await readLockOwner(file);
    const unchanged =
      staleOwner === null ? again === null : again !== null && again.pid === staleOwner.pid && again.since === staleOwner.since;
    if (unchanged) await fs.rm(file, { force: true });
  } finally {
    await fs.rm(guard, { force: true });
  }
}

/** Takes the lock if it is free or stale; never waits. */
export async function tryLock(file: string): Promise<LockAttempt> {
  for (let round = 0; round < 3; round++) {
    if (await createLockFile(file)) return { acquired: true, lock: heldLock(file) };
    const state = await liveOwner(file);
    if (state.live) return { acquired: false, owner: state.owner };
    if (!state.gone) await removeStaleLock(file, state.owner);
  }
  return { acquired: false, owner: await readLockOwner(file) };
}

/** Takes the lock, waiting up to `timeoutMs` for its holder to release it. */
export async function lockWithin(file: string, timeoutMs: number, what: string): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const attempt = await tryLock(file);
    if (attempt.acquired) return attempt.lock;
    if (Date.now() >= deadline) {
      const by = attempt.owner ? ` (held by pid ${attempt.owner.pid})` : '';
      throw new BulkmailerError('E_BUSY', `${what} is busy${by}; try again`, { exitCode: ExitCode.tempFail });
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(50, delay * 2);
  }
}

/** Who holds a lock right now, or null if nobody (live) does. */
export async function lockHolder(file: string): Promise<LockOwner | null> {
  const state = await liveOwner(file);
  return state.live ? state.owner ?? { pid: 0, boot: '', since: '' } : null;
}

/** For repair: removes every lock file in lock/ whose owner is dead. */
export async function removeDeadLocks(spool: Spool): Promise<number> {
  let removed = 0;
  const names = await fs.readdir(spool.lock).catch(() => [] as string[]);
  for (const name of names) {
    if (name.endsWith('.sock')) continue; // sockets are the agent's; it cleans them
    const file = path.join(spool.lock, name);
    const state = await liveOwner(file);
    if (!state.live && !state.gone) {
      await fs.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
