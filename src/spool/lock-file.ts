/**
 * The lock primitive: a lock is a symbolic link whose target is its owner's
 * record (pid, the boot it belongs to, the time it was taken), as Emacs does
 * for its file locks. symlink(2) creates the lock and its content in one
 * atomic syscall that fails if it exists, and readlink(2) reads it back in
 * one, so there is never a lock without an owner record.
 *
 * A lock is stale when its pid is gone, when it was written before the last
 * boot (a pid from before a reboot can belong to anyone now), or when it is
 * not a lock record at all (no release ever wrote anything else). A stale
 * lock is taken over under a short guard lock, so two processes that find
 * the same stale lock cannot both win.
 *
 * Which locks exist and where is the spool's business (lock-names.ts); the
 * sweep of dead locks at start is repair's (repair.ts).
 *
 * Nothing here blocks: callers choose to fail (`tryLock`) or to wait a
 * bounded time (`lockWithin`, the only asynchronous function). Errors other
 * than "exists" from the file system are thrown as they come.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BulkmailerError, ExitCode } from '../errors.js';

export interface LockOwner {
  pid: number;
  boot: string;
  since: string;
}

export interface HeldLock {
  readonly path: string;
  /** Removes the lock if it is still ours; idempotent. */
  release(): void;
}

export type LockAttempt = { acquired: true; lock: HeldLock } | { acquired: false; owner: LockOwner | null };

/** A takeover guard older than this was left by a process that died mid-takeover. */
const TAKEOVER_GUARD_STALE_MS = 5_000;

let cachedBoot: string | undefined;
let cachedTag: string | undefined;

/**
 * An identifier of the current boot: Linux's boot_id, else the boot time to
 * the minute. Cached for the process; the sendmail command's start-up
 * snapshot calls forgetBootId() just before the image is written, so a value
 * read while it was built (another boot, maybe) is neither in the image nor
 * used at run time.
 */
export function currentBootId(): string {
  if (cachedBoot !== undefined) return cachedBoot;
  try {
    cachedBoot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    cachedBoot = `t${Math.round((Date.now() / 1000 - os.uptime()) / 60)}`;
  }
  return cachedBoot;
}

/** Drops the cached boot id (a start-up snapshot being deserialized: it may be another boot's). */
export function forgetBootId(): void {
  cachedBoot = undefined;
  cachedTag = undefined;
}

/** What a pending commit's name says of a boot whose boot_id is unknown. */
export const UNKNOWN_BOOT = 'unknown';

/**
 * The current boot as a pending commit's name carries it (paths.ts): the
 * first 8 hex digits of boot_id (random per boot: 32 bits tell two boots
 * apart well enough), or UNKNOWN_BOOT where there is no boot_id (the boot
 * time from the uptime is not stable enough to compare in a name).
 */
export function bootTag(): string {
  if (cachedTag !== undefined) return cachedTag;
  const id = currentBootId().replace(/-/g, '').toLowerCase();
  // Derived once per process (every enqueue names its pending commit with it); forgotten with the boot id.
  return (cachedTag = /^[0-9a-f]{8}/.test(id) ? id.slice(0, 8) : UNKNOWN_BOOT);
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

/**
 * The records of the locks this process holds, by path. A lock that names
 * our own pid but is not in here was left by an earlier process that had the
 * same pid in the same boot (a restarted container's pid 1): it is stale.
 * Releasing checks the record too, so a lock taken over by another process
 * is never removed by us.
 */
const ownRecords = new Map<string, string>();

type LockRead = { kind: 'none' } | { kind: 'record'; text: string; owner: LockOwner | null };

/** The lock's raw record (for comparing with our own) and its owner if the record parses. */
function readLock(file: string): LockRead {
  let text: string;
  try {
    text = fs.readlinkSync(file);
  } catch (err) {
    // EINVAL: something that is not a symlink sits there; no release ever wrote one.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { kind: 'none' } : { kind: 'record', text: '', owner: null };
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid === 'number' && typeof parsed.boot === 'string' && typeof parsed.since === 'string') {
      return { kind: 'record', text, owner: { pid: parsed.pid, boot: parsed.boot, since: parsed.since } };
    }
  } catch {
    /* not a record of ours: stale */
  }
  return { kind: 'record', text, owner: null };
}

/** The owner recorded in a lock, or null (no lock, or not a lock record). */
export function readLockOwner(file: string): LockOwner | null {
  const lock = readLock(file);
  return lock.kind === 'record' ? lock.owner : null;
}

type LockStatus = { state: 'free' } | { state: 'live'; owner: LockOwner } | { state: 'stale'; owner: LockOwner | null };

function lockStatus(file: string): LockStatus {
  const lock = readLock(file);
  if (lock.kind === 'none') return { state: 'free' };
  const owner = lock.owner;
  if (owner === null) return { state: 'stale', owner: null };
  const live =
    owner.pid === process.pid
      ? ownRecords.get(file) === lock.text
      : sameBoot(owner.boot, currentBootId()) && isProcessAlive(owner.pid);
  return live ? { state: 'live', owner } : { state: 'stale', owner };
}

let lockSerial = 0;

/** One syscall: the lock and its owner record appear together, or EEXIST (false). */
function createLock(file: string): boolean {
  // `n` makes each record unique, so a release can tell its own lock from a successor's.
  const record = JSON.stringify({ pid: process.pid, boot: currentBootId(), since: new Date().toISOString(), n: ++lockSerial });
  for (let round = 0; ; round++) {
    try {
      fs.symlinkSync(record, file);
      ownRecords.set(file, record);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      // The directory is a symlink whose target vanished (tmpfs cleared by hand): make it again, once.
      if (code === 'ENOENT' && round === 0 && recreateLinkedDir(path.dirname(file))) continue;
      throw err;
    }
  }
}

function recreateLinkedDir(dir: string): boolean {
  try {
    fs.mkdirSync(path.resolve(path.dirname(dir), fs.readlinkSync(dir)), { mode: 0o700 });
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
    release() {
      if (released) return;
      released = true;
      if (ownRecords.get(file) === record) ownRecords.delete(file);
      // Only our own lock: one taken over meanwhile (we were thought dead) stays.
      const now = readLock(file);
      if (now.kind !== 'record' || now.text !== record) return;
      removeIfExists(file);
    },
  };
}

function removeIfExists(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function sameOwner(a: LockOwner | null, b: LockOwner | null): boolean {
  if (a === null || b === null) return a === b;
  return a.pid === b.pid && a.since === b.since;
}

/** Removes a stale lock under a guard, so only one process takes it over. True when this call removed it. */
function removeStaleLock(file: string, staleOwner: LockOwner | null): boolean {
  const guard = `${file}.takeover`;
  if (!createLock(guard)) {
    const stat = lstatOrNull(guard);
    if (stat !== null && Date.now() - stat.mtimeMs > TAKEOVER_GUARD_STALE_MS) removeIfExists(guard);
    return false; // someone else is taking it over; the caller sees it held or tries again
  }
  try {
    const again = lockStatus(file);
    if (again.state !== 'stale' || !sameOwner(again.owner, staleOwner)) return false;
    removeIfExists(file);
    return true;
  } finally {
    removeIfExists(guard);
  }
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
  } catch {
    return null;
  }
}

/** Takes the lock if it is free or stale; never waits. */
export function tryLock(file: string): LockAttempt {
  for (let round = 0; round < 3; round++) {
    if (createLock(file)) return { acquired: true, lock: heldLock(file) };
    const status = lockStatus(file);
    if (status.state === 'live') return { acquired: false, owner: status.owner };
    if (status.state === 'stale') removeStaleLock(file, status.owner);
  }
  return { acquired: false, owner: readLockOwner(file) };
}

/** Takes the lock, waiting up to `timeoutMs` for its holder to release it. */
export async function lockWithin(file: string, timeoutMs: number, what: string): Promise<HeldLock> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const attempt = tryLock(file);
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
export function lockHolder(file: string): LockOwner | null {
  const status = lockStatus(file);
  return status.state === 'live' ? status.owner : null;
}

/** For repair's sweep: removes the lock if it is stale, under the same guard as a takeover. True when it did. */
export function removeLockIfStale(file: string): boolean {
  const status = lockStatus(file);
  return status.state === 'stale' && removeStaleLock(file, status.owner);
}
