/**
 * The spool's locks: which exist, what each guards, and where it lives.
 * The primitive they are made of is lock-file.ts.
 *
 *   lock/instance               the one flusher (`flush` or the agent) - promise 5
 *   lock/entries/<id>.state     a read-modify-write of one entry's state file (short)
 *   lock/entries/<id>.busy      the entry is being delivered (held for its transactions)
 *   lock/token-<account>        a refresh of an OAuth2 account's tokens (oauth-tokens.ts; short)
 *
 * (lock/entries is on tmpfs where possible: see entry-lock-dir.ts.) Lock
 * names are built from paths.ts's directories and nothing else.
 */
import path from 'node:path';
import { entryLockDir, type Spool } from './paths.js';

export function instanceLockPath(spool: Spool): string {
  return path.join(spool.lock, 'instance');
}

export function entryStateLockPath(spool: Spool, id: string): string {
  return path.join(entryLockDir(spool), `${id}.state`);
}

export function entryBusyLockPath(spool: Spool, id: string): string {
  return path.join(entryLockDir(spool), `${id}.busy`);
}

export function tokenRefreshLockPath(spool: Spool, account: string): string {
  return path.join(spool.lock, `token-${account}`);
}

/** The directories holding locks, with the names in them that are not locks (for repair's sweep). */
export function lockDirectories(spool: Spool): { dir: string; isLock: (name: string) => boolean }[] {
  return [
    // trigger.sock is the agent's (it replaces a stale one); `entries` is the entry lock directory.
    { dir: spool.lock, isLock: (name) => name !== 'entries' && !name.endsWith('.sock') },
    { dir: entryLockDir(spool), isLock: () => true },
  ];
}
