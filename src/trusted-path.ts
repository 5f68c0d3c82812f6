/**
 * Whether a path may be trusted with this user's mail and credentials, as
 * OpenSSH's StrictModes decides for ~/.ssh (misc.c, safe_path): the file or
 * directory and every directory above it must belong to this user or to
 * root, and none may be writable by group or others. Otherwise another user
 * could replace config.json (whose passwordCommand the next flush runs as
 * you) or the spool under you. One exception, which ssh never meets: an
 * ancestor directory with the sticky bit (/tmp) is fine, since nobody can
 * rename or remove what is ours inside it.
 *
 * A one-shot process (the sendmail command, `bulkmailer enqueue`: it queues
 * one message and exits) checks config.json and then the home, two walks
 * to / over the same directories; with `oneShot` a directory found trusted
 * with every directory above it is not walked again in this process. Only
 * you or root can make such a directory untrusted, so for a process that
 * lives milliseconds this is the same guarantee; every other check walks
 * afresh (the agent reloads config hours later).
 *
 * Pure look-ups (stat), no changes; imports nothing of ours but the error
 * type, so the config and the spool can both use it. Fails with
 * E_UNTRUSTED_PATH (exit 77, as sendmail callers expect for permission).
 */
import fs from 'node:fs';
import path from 'node:path';
import { BulkmailerError, ExitCode } from './errors.js';

export interface UntrustedPath {
  /** The offending file or directory. */
  path: string;
  /** Why, in words ("is owned by uid 1001 (mallory)"). */
  problem: string;
  /** One thing to do about it. */
  fix: string;
}

function ownerName(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (Number(id) === uid && name) return ` (${name})`;
    }
  } catch {
    /* no passwd file: the number alone */
  }
  return '';
}

/** The nearest existing path at or above `target`, resolved through symbolic links. */
function existingRealPath(target: string): string {
  let current = path.resolve(target);
  for (;;) {
    try {
      // The C library's realpath: one call, where fs.realpathSync walks and lstats every name in JavaScript.
      return fs.realpathSync.native(current);
    } catch (err) {
      const parent = path.dirname(current);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw err;
      current = parent;
    }
  }
}

/** Real directories a one-shot check found trusted, with every directory above them, in this process. */
const trustedDirs = new Set<string>();

/**
 * The first untrusted path from `target` up to the root, or null when all
 * are trusted (or when there are no user ids: Windows). A `target` that does
 * not exist yet is judged by the directories that will hold it.
 */
export function findUntrustedPath(target: string, uid: number | null = currentUid()): UntrustedPath | null {
  return walkUp(target, uid, null);
}

/** findUntrustedPath; with `known`, stops at a directory in it and adds those it found trusted. */
function walkUp(target: string, uid: number | null, known: Set<string> | null): UntrustedPath | null {
  if (uid === null) return null;
  const start = existingRealPath(target);
  const trusted: string[] = [];
  for (let current = start, first = true; ; first = false) {
    if (known?.has(current)) break;
    const stat = fs.statSync(current);
    if (stat.uid !== uid && stat.uid !== 0) {
      return {
        path: current,
        problem: `is owned by uid ${stat.uid}${ownerName(stat.uid)}, not by you (uid ${uid}) or root`,
        fix: `use a home of your own (--home or $BULKMAILER_HOME), or have ${current} given to you (chown)`,
      };
    }
    const sticky = (stat.mode & 0o1000) !== 0 && stat.isDirectory() && !first;
    if ((stat.mode & 0o022) !== 0 && !sticky) {
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
      return {
        path: current,
        problem: `is writable by ${(stat.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${mode})`,
        fix: `chmod go-w ${current}`,
      };
    }
    // Only what would pass as a target itself is remembered: a sticky directory writable by
    // others (/tmp) is fine above a home, never as the home a later check of this process asks about.
    if (stat.isDirectory() && (stat.mode & 0o022) === 0) trusted.push(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const dir of trusted) known?.add(dir);
  return null;
}

/** This process's uid (null where there are none): read at each use, never kept at module load, where the sendmail snapshot's build would freeze the builder's (docs/performance.md). */
export function currentUid(): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null;
}

export interface TrustCheckOptions {
  /** A process that queues one message and exits: directories this process already found trusted are not walked again (see the header). */
  oneShot?: boolean;
}

/** Throws E_UNTRUSTED_PATH (exit 77) unless `target` and every directory above it are trusted. */
export function checkTrustedPath(target: string, what: string, options: TrustCheckOptions = {}): void {
  // A name this process already found trusted as it is (a real path, no link in it): not even a
  // realpath. Only an absolute name with no '.' or '..' in it: path.resolve would drop a '..' after
  // a link by its letters, where the file system follows the link first.
  if (options.oneShot && path.isAbsolute(target) && path.normalize(target) === target && trustedDirs.has(target)) return;
  let found: UntrustedPath | null;
  try {
    found = walkUp(target, currentUid(), options.oneShot ? trustedDirs : null);
  } catch (err) {
    // Cannot even look (EACCES on a directory above): that is no trust either.
    throw new BulkmailerError('E_UNTRUSTED_PATH', `refusing ${what} ${target}: cannot check it (${(err as Error).message})`, {
      exitCode: ExitCode.noPerm,
      cause: err,
    });
  }
  if (found === null) return;
  throw new BulkmailerError(
    'E_UNTRUSTED_PATH',
    `refusing ${what} ${target}: ${found.path} ${found.problem}, so another user could change it; ${found.fix}`,
    { exitCode: ExitCode.noPerm },
  );
}

