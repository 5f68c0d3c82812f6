/**
 * The spool's directory tree, and the only place that builds its paths.
 *
 *   spool/tmp/                  writes in progress (names carry the writer's pid)
 *   spool/msg/<bucket>/<id>     message bytes, immutable once queued
 *   spool/state/<bucket>/<id>.json   the entry: the commit record
 *   spool/lock/                 instance lock, entry locks, the agent's trigger
 *   spool/corrupt/              quarantined entries, never deleted silently
 *   spool/accounts/<name>.hold.json   an account paused or held (see account-holds.ts)
 *   log/deliveries.jsonl        one line per final recipient outcome
 */
import path from 'node:path';
import { bucketOf } from '../model/queue-id.js';

export interface Spool {
  home: string;
  root: string;
  tmp: string;
  msg: string;
  state: string;
  lock: string;
  corrupt: string;
  logDir: string;
}

export function spoolLayout(home: string): Spool {
  const root = path.join(home, 'spool');
  return {
    home,
    root,
    tmp: path.join(root, 'tmp'),
    msg: path.join(root, 'msg'),
    state: path.join(root, 'state'),
    lock: path.join(root, 'lock'),
    corrupt: path.join(root, 'corrupt'),
    logDir: path.join(home, 'log'),
  };
}

export function messageDir(spool: Spool, id: string): string {
  return path.join(spool.msg, bucketOf(id));
}

export function messagePath(spool: Spool, id: string): string {
  return path.join(spool.msg, bucketOf(id), id);
}

export function stateDir(spool: Spool, id: string): string {
  return path.join(spool.state, bucketOf(id));
}

export function statePath(spool: Spool, id: string): string {
  return path.join(spool.state, bucketOf(id), `${id}.json`);
}

export function deliveryLogPath(spool: Spool): string {
  return path.join(spool.logDir, 'deliveries.jsonl');
}

/** A unique temp name in tmp/ whose pid lets repair tell live writers from dead ones. */
export function tmpPath(spool: Spool, id: string, suffix: string): string {
  return path.join(spool.tmp, `${id}.${process.pid}.${suffix}`);
}

/** Per-account records (holds, sending-limit counts): one directory, names carry the account. */
export function accountsDir(spool: Spool): string {
  return path.join(spool.root, 'accounts');
}

export function accountHoldPath(spool: Spool, account: string): string {
  return path.join(spool.root, 'accounts', `${account}.hold.json`);
}
