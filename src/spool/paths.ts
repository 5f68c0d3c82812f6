/**
 * The spool's directory tree, and the only place that builds its paths.
 *
 *   spool/tmp/                  writes in progress (names carry the writer's pid), and enqueues'
 *                               pending commits (<id>.<pid>.<boot>.<crc>.commit): an entry's
 *                               state before its link into state/, and after it until
 *                               state/<bucket> is fsynced
 *   spool/msg/<bucket>/<id>     message bytes, immutable once queued
 *   spool/state/<bucket>/<id>.json   the entry: the commit record
 *   spool/lock/                 locks (lock-names.ts), the agent's trigger.sock
 *   spool/lock/entries/         per-entry locks; a link to tmpfs where possible (entry-lock-dir.ts)
 *   spool/corrupt/              quarantined entries, never deleted silently
 *   spool/accounts/<name>.hold.json   an account paused or held (see account-holds.ts)
 *   spool/records/<name>.json   small records: MX cache, destination health, MTA-STS policies (records.ts)
 *   spool/last-probe.json       the last probe's answer (advisory, connectivity/last-probe.ts)
 *   spool/journal/              transaction journals of delivery batches (crash recovery)
 *   spool/accounts/<name>.sent        what the account sent, for its sending limits (send-ledger.ts)
 *   spool/accounts/<name>.token.json  an OAuth2 account's refresh and access tokens (oauth-tokens.ts)
 *   spool/accounts/<name>.rcpt.json   recipients per transaction its smarthost took (learnt-figures.ts)
 *   spool/accounts/<name>.conn.json   connections at once its smarthost took (learnt-figures.ts)
 *   log/deliveries.jsonl        one line per final recipient outcome
 *   log/deletions.jsonl         one line per entry deleted by hand
 *   log/agent.log               the agent's log when stderr is not a terminal
 *
 * Code outside src/spool gets every path here (through spool/index.ts) and
 * never joins a spool path itself; inside src/spool only the lock names
 * (lock-names.ts, below lock/) and the walks over directory listings
 * (repair, scan) join names to a directory given here.
 */
import path from 'node:path';
import { bucketOf, isQueueId } from '../model/queue-id.js';
import { LEARNT_FIGURES, type LearntFigureKind } from '../model/learnt-figure.js';

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
  /**
   * Opened for a process that queues one message and exits (the sendmail
   * command, `bulkmailer enqueue`: openSpool's `only: 'enqueue'`). Its
   * enqueue opens, fsyncs and closes each directory: kept handles
   * (./dir-handles.ts) pay off from the second enqueue on, which never
   * comes, and their idle timer would be the process's first setTimeout
   * (~0.4 ms, docs/performance.md). Same fsyncs, same order, same
   * durability before the enqueue resolves.
   */
  oneShot?: true;
  /**
   * Opened for a process that enqueues one message after another (the
   * listener: openSpool's `spareFiles`): each enqueue that is alone in
   * flight makes the next one's two temp files while it waits for its fsync
   * round (./spare-files.ts). Same files, fsyncs and order otherwise.
   */
  spareFiles?: true;
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

/*
 * The per-entry paths below are built by plain concatenation: every enqueue
 * builds about ten of them, and path.join normalizes each (a scan of the
 * whole string). The parts are already normal: the spool's directories come
 * from path.join in spoolLayout, a bucket is one hex digit, an id is
 * [0-9a-z], the suffixes are ours; test/spool/paths.test.ts checks that
 * each equals path.join's.
 */

export function messageBucketDir(spool: Spool, bucket: string): string {
  return spool.msg + path.sep + bucket;
}

export function stateBucketDir(spool: Spool, bucket: string): string {
  return spool.state + path.sep + bucket;
}

export function messageDir(spool: Spool, id: string): string {
  return messageBucketDir(spool, bucketOf(id));
}

export function messagePath(spool: Spool, id: string): string {
  return messageDir(spool, id) + path.sep + id;
}

export function stateDir(spool: Spool, id: string): string {
  return stateBucketDir(spool, bucketOf(id));
}

export function statePath(spool: Spool, id: string): string {
  return `${stateDir(spool, id)}${path.sep}${id}.json`;
}

/** A quarantined entry's file in corrupt/: `<id>.<time>.<what>` (msg, json, reason.txt). */
export function corruptPath(spool: Spool, stamp: string, what: 'msg' | 'json' | 'reason.txt'): string {
  return path.join(spool.corrupt, `${stamp}.${what}`);
}

export type RecordName = 'mx-cache' | 'destinations' | 'mta-sts';

export function recordsDir(spool: Spool): string {
  return path.join(spool.root, 'records');
}

/** A small record the flusher keeps (records.ts): spool/records/<name>.json. */
export function recordPath(spool: Spool, name: RecordName): string {
  return path.join(recordsDir(spool), `${name}.json`);
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
  return `${spool.tmp}${path.sep}${id}.${process.pid}.${suffix}`;
}

/**
 * An enqueue's pending commit: the entry's state, in tmp/ until its link
 * into state/ commits it, and after that until state/<bucket> is fsynced
 * (enqueue.ts). The name carries the writer's pid (as every tmp/ name), its
 * boot (bootTag, lock-file.ts: a pid means something only within its boot)
 * and the CRC-32 of the message, 8 hex digits, with which repair checks the
 * message before it completes a commit a crash interrupted (repair.ts).
 */
export function pendingCommitPath(spool: Spool, id: string, boot: string, crc: number): string {
  return tmpPath(spool, id, `${boot}.${crc.toString(16).padStart(8, '0')}.commit`);
}

const PENDING_COMMIT_NAME = /^([0-9a-z]+)\.([1-9][0-9]*)\.([0-9a-f]{8}|unknown)\.([0-9a-f]{8})\.commit$/;

export interface PendingCommitName {
  id: string;
  pid: number;
  /** 8 hex digits of the writer's boot_id, or 'unknown' (UNKNOWN_BOOT). */
  boot: string;
  crc: number;
}

/** What a name in tmp/ says if it is a pending commit's (pendingCommitPath); null for any other name. */
export function parsePendingCommitName(name: string): PendingCommitName | null {
  const match = PENDING_COMMIT_NAME.exec(name);
  if (match === null || !isQueueId(match[1]!)) return null;
  return { id: match[1]!, pid: Number(match[2]), boot: match[3]!, crc: Number.parseInt(match[4]!, 16) };
}

/** Per-account records (holds, sending-limit counts): one directory, names carry the account. */
export function accountsDir(spool: Spool): string {
  return path.join(spool.root, 'accounts');
}

export function accountHoldPath(spool: Spool, account: string): string {
  return path.join(accountsDir(spool), `${account}.hold.json`);
}

export function journalPath(spool: Spool, name: string): string {
  return path.join(spool.journal, `${name}.jsonl`);
}

/** A figure the account's smarthost taught (learnt-figures.ts): <name>.rcpt.json, <name>.conn.json, by the kind's row. */
export function learntFigurePath(spool: Spool, account: string, kind: LearntFigureKind): string {
  return path.join(accountsDir(spool), `${account}.${LEARNT_FIGURES[kind].file}.json`);
}

export function sendLedgerPath(spool: Spool, account: string): string {
  return path.join(accountsDir(spool), `${account}.sent`);
}

/** An OAuth2 account's tokens (oauth-tokens.ts): the refresh token, mode 0600 like every spool file. */
export function oauthTokenPath(spool: Spool, account: string): string {
  return path.join(accountsDir(spool), `${account}.token.json`);
}
