/**
 * Lock files in spool/lock/: who holds what, and taking over what the dead
 * left behind.
 *
 * A lock is a symbolic link whose target is its owner's record (pid, the
 * boot it belongs to, the time it was taken), as Emacs does for its file
 * locks: symlink(2) creates it and its content in one atomic syscall that
 * fails if it exists, and readlink(2) reads it back in one. (A regular file
 * holding the same JSON is also understood.) It is stale when its pid is
 * gone, or when it was written before the last boot (a pid from before a
 * reboot can belong to anyone now). A stale lock is taken over under a short
 * guard lock, so two processes that find the same stale lock cannot both win.
 *
 * Locks in use:
 *   lock/instance               the one flusher (`flush` or the agent) - promise 5
 *   lock/entries/<id>.state     a read-modify-write of one entry's state file (short)
 *   lock/entries/<id>.busy      the entry is being delivered (held for its transactions)
 * (lock/entries is on tmpfs where possible: see entry-lock-dir.ts.)
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
import { entryLockDir } from './entry-lock-dir.js';

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
  return path.join(entryLockDir(spool), `${id}.state`);
}

export function entryBusyLockPath(spool: Spool, id: string): string {
  return path.join(entryLockDir(spool), `${id}.busy`);
}

/**
 * The records of the locks this process holds, by path. A lock that names
 * our own pid but is not in here was left by an earlier process that had the
 * same pid in the same boot (a restarted container's pid 1): it is stale.
 * Releasing checks the record too, so a lock taken over by another process
 * is never removed by us.
 */
const ownRecords = new Map<string, string>();

export async function readLockOwner(file: string): Promise<LockOwner | null> {
  return readLock(file)?.owner ?? null;
}

/** The raw record of a lock (for comparing with our own) and its owner, if readable. */
function readLock(file: string): { text: string; owner: LockOwner | null } | null {
  let text: string;
  try {
    text = fsSync.readlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return null;
    try {
      text = fsSync.readFileSync(file, 'utf8'); // a regular file written by hand or by an older version
    } catch {
      return null;
    }
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.boot === 'string' && typeof parsed.since === 'string') {
      return { text, owner: { pid: parsed.pid, boot: parsed.boot, since: parsed.since } };
    }
  } catch {
    /* unreadable: decided by the caller from the lock's age */
  }
  return { text, owner: null };
}

/** Whether the lock's owner lives; `gone` when there is no lock (any more). */
async function liveOwner(file: string): Promise<{ live: boolean; owner: LockOwner | null; gone: boolean }> {
  const lock = readLock(file);
  const owner = lock?.owner ?? null;
  if (owner === null) {
    try {
      const stat = fsSync.lstatSync(file);
      // A regular-file lock created but not written yet by a live process, or garbage left by a dead one.
      return { live: Date.now() - stat.mtimeMs < UNWRITTEN_LOCK_GRACE_MS, owner: null, gone: false };
    } catch {
      return { live: false, owner: null, gone: true };
    }
  }
  const live =
    owner.pid === process.pid
      ? ownRecords.get(file) === lock?.text
      : sameBoot(owner.boot, currentBootId()) && isProcessAlive(owner.pid);
  return { live, owner, gone: false };
}

let lockSerial = 0;

/** One syscall: the lock and its owner record appear together, or EEXIST. */
async function createLockFile(file: string): Promise<boolean> {
  // `n` makes each record unique, so a release can tell its own lock from a successor's.
  const owner = { pid: process.pid, boot: currentBootId(), since: new Date().toISOString(), n: ++lockSerial };
  const record = JSON.stringify(owner);
  for (let round = 0; ; round++) {
    try {
      fsSync.symlinkSync(record, file);
      ownRecords.set(file, record);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // The tmpfs directory behind lock/entries vanished (cleared by hand): make it again, once.
      if (code === 'ENOENT' && round === 0 && recreateLinkedDir(path.dirname(file))) continue;
      throw err;
    }
  }
}

function recreateLinkedDir(dir: string): boolean {
  try {
    fsSync.mkdirSync(path.resolve(path.dirname(dir), fsSync.readlinkSync(dir)), { mode: 0o700 });
    return true;
  } catch {
    return false;
  }
}

function heldLock(file: string): HeldLock {
  let released = false;
  const record = ownRecords.get(file);
  return {
    path: file,
    async release() {
      if (released) return;
      released = true;
      if (ownRecords.get(file) === record) ownRecords.delete(file);
      // Only our own lock: one taken over meanwhile (we were thought dead) stays.
      if (readLock(file)?.text !== record) return;
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
    const stat = await fs.lstat(guard).catch(() => null);
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

/** For repair: removes every lock in lock/ and lock/entries/ whose owner is dead. */
export async function removeDeadLocks(spool: Spool): Promise<number> {
  let removed = 0;
  for (const dir of [spool.lock, entryLockDir(spool)]) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      // Sockets are the agent's (it cleans them); `entries` is the entry lock directory.
      if (name.endsWith('.sock') || (dir === spool.lock && name === 'entries')) continue;
      const file = path.join(dir, name);
      const state = await liveOwner(file);
      if (!state.live && !state.gone) {
        await fs.rm(file, { force: true });
        removed++;
      }
    }
  }
  return removed;
}
