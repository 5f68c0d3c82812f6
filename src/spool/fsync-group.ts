/**
 * Group commit for concurrent enqueues in one process (the listener's
 * parallel sessions, a library caller's parallel enqueues).
 *
 * Each enqueue needs two directories fsynced before it may acknowledge:
 * msg/<bucket>, which its message was renamed into, and tmp/, which holds
 * its pending commit; and one after it, state/<bucket>, which its commit
 * linked the entry into, before the pending name may go (enqueue.ts).
 * `syncDirGrouped(dir)` resolves once an fsync of `dir` that began after
 * the call has completed; callers that arrive while an fsync of the same
 * directory runs share the next one (shared-runs.ts, also behind the
 * trigger's nudges). So N sessions committing at the same moment cost one
 * fsync per directory, not N, and none is acknowledged before its message
 * and pending commit are durable, nor removes its pending name before its
 * entry's name is (promise 1).
 *
 * tmp/ is one directory for every bucket, so every enqueue of the process
 * shares its fsyncs. For msg/<bucket>, sharing needs a shared bucket:
 * `joinCommitGroup()` gives enqueues that overlap in time the same bucket
 * (ids are drawn in it), a fresh random one whenever nobody is enqueueing,
 * and at most GROUP_ENTRIES entries per bucket in a row, so a long burst
 * still spreads over all buckets.
 *
 * Fails as fsync fails: every caller sharing a failed fsync gets its error
 * (their names are not known to be durable, so none may acknowledge).
 */
import { randomInt } from 'node:crypto';
import { BUCKET_COUNT } from '../model/queue-id.js';
import { fsyncDirKeptOpen } from './dir-handles.js';
import { SharedRuns } from './shared-runs.js';

/** Entries per bucket before a busy group moves on to another. */
const GROUP_ENTRIES = 64;

/** Shared directory fsyncs; `fsync` is replaceable for tests. */
export class DirFsyncGroup {
  private readonly runs: SharedRuns<void>;

  constructor(fsync: (dir: string) => Promise<void> = fsyncDirKeptOpen) {
    this.runs = new SharedRuns(fsync);
  }

  /** Resolves once an fsync of `dir` that began after this call has completed. */
  sync(dir: string): Promise<void> {
    return this.runs.run(dir);
  }
}

const shared = new DirFsyncGroup();

export function syncDirGrouped(dir: string): Promise<void> {
  return shared.sync(dir);
}

let active = 0;
let bucket = '0';
let entriesInBucket = 0;

export interface CommitGroupMember {
  /** The bucket this enqueue's id must fall in. */
  bucket: string;
  /** Call once, when the enqueue has committed or failed. */
  leave(): void;
}

/** Enqueues of this process between joinCommitGroup and leave (spare-files.ts is used only by one alone). */
export function enqueuesInFlight(): number {
  return active;
}

export function joinCommitGroup(): CommitGroupMember {
  if (active === 0 || entriesInBucket >= GROUP_ENTRIES) {
    bucket = randomInt(BUCKET_COUNT).toString(16);
    entriesInBucket = 0;
  }
  active++;
  entriesInBucket++;
  let left = false;
  return {
    bucket,
    leave() {
      if (left) return;
      left = true;
      active--;
    },
  };
}
