/**
 * The spool's directory tree, and the only place that builds its paths.
 *
 *   spool/tmp/                  writes in progress (names carry the writer's pid)
 *   spool/msg/<bucket>/<id>     message bytes, immutable once queued
 *   spool/state/<bucket>/<id>.json   the entry: the commit record
 *   spool/lock/                 locks (lock-names.ts), the agent's trigger.sock
 *   spool/lock/entries/         per-entry locks; a link to tmpfs where possible (entry-lock-dir.ts)
 *   spool/corrupt/              quarantined entries, never deleted silently
 *   spool/accounts/<name>.hold.json   an account paused or held (see account-holds.ts)
 *   spool/last-probe.json       the last probe's answer (advisory, connectivity/last-probe.ts)
 *   spool/journal/              transaction journals of delivery batches (crash recovery)
 *   log/deliveries.jsonl        one line per final recipient outcome
 *   log/deletions.jsonl         one line per entry deleted by hand
 *   log/agent.log               the agent's log when stderr is not a terminal
 *
 * Code outside src/spool gets every path here (through spool/index.ts) and
 * never joins a spool path itself.
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
  journal: string;
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
    journal: path.join(root, 'journal'),
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

export function deletionLogPath(spool: Spool): string {
  return path.join(spool.logDir, 'deletions.jsonl');
}

export function agentLogPath(spool: Spool): string {
  return path.join(spool.logDir, 'agent.log');
}

export function lastProbePath(spool: Spool): string {
  return path.join(spool.root, 'last-probe.json');
}

export function triggerSocketPath(spool: Spool): string {
  return path.join(spool.lock, 'trigger.sock');
}

/** The per-entry lock directory (see entry-lock-dir.ts for what it points to). */
export function entryLockDir(spool: Spool): string {
  return path.join(spool.lock, 'entries');
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

export function journalPath(spool: Spool, name: string): string {
  return path.join(spool.journal, `${name}.jsonl`);
}
