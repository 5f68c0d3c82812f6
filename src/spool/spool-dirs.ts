/**
 * The spool's own directories (tmp/, msg/ and state/ with their buckets,
 * lock/, corrupt/, journal/, log/, accounts/, records/) and the check that
 * each is what it claims to be: a real directory of ours, never a symbolic
 * link. Every spool path is built by joining names below these (paths.ts),
 * and O_NOFOLLOW protects only a path's last name: a link in place of
 * state/0 would make another user's files (a forged state redirecting a
 * message) pass for our queue, and one in place of tmp/ would send our
 * messages' bytes into their directory. So openSpool checks (and creates)
 * them with lstat, and repair checks them again at every flusher start (the
 * agent's spool stays open for days), together with the entry lock
 * directory on tmpfs (entry-lock-dir.ts), whose owner and mode can change
 * under a running agent (logind removes a user's /dev/shm files at logout,
 * and anyone may then take the name).
 *
 * Cost: one lstat per directory (40 of them) per open or flush, never per
 * entry. A process that only enqueues (the sendmail command, one process
 * per message) checks only what an enqueue writes into or through: tmp/,
 * msg/, state/ and lock/ at open (ensureEnqueueDirectories), and the two
 * bucket directories of its entry before its first file goes there
 * (ensureBucketDirectories): 6 lstats instead of ~40. The other
 * directories are not used by it, and every flusher checks all of them
 * before it reads anything (repair), so a link among them is still refused
 * before anything is read or delivered through it.
 *
 * Fails with E_SPOOL_SYMLINK (77) for a link, E_SPOOL_OWNER (77) for a
 * directory of another user, E_SPOOL_SHAPE (73, "the spool cannot take
 * it", as sendmail callers expect) for something that is not a directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { allBuckets } from '../model/queue-id.js';
import { BulkmailerError, ExitCode, fromFsError } from '../errors.js';
import { currentUid } from '../trusted-path.js';
import { accountsDir, messageBucketDir, recordsDir, stateBucketDir, type Spool } from './paths.js';
import { prepareEntryLockDir } from './entry-lock-dir.js';
import { fsyncDirSync } from './durable-fs.js';

/** The directories every spool has, parents before their children. */
function requiredDirs(spool: Spool): string[] {
  return [
    spool.tmp,
    spool.msg,
    spool.state,
    spool.lock,
    spool.corrupt,
    spool.journal,
    spool.logDir,
    ...allBuckets().flatMap((bucket) => [messageBucketDir(spool, bucket), stateBucketDir(spool, bucket)]),
  ];
}

/** Directories made when first needed, by their writers: checked when present. */
function optionalDirs(spool: Spool): string[] {
  return [accountsDir(spool), recordsDir(spool)];
}

function checkDirStat(dir: string, stat: fs.Stats): void {
  if (stat.isSymbolicLink()) {
    let target = '?';
    try {
      target = fs.readlinkSync(dir);
    } catch {
      /* gone meanwhile: the link is still what was found */
    }
    throw new BulkmailerError(
      'E_SPOOL_SYMLINK',
      `spool directory ${dir} is a symbolic link (to ${target}): refusing to follow it, since files there could pass for your queue; replace it with a real directory of your own (mkdir -m 700)`,
      { exitCode: ExitCode.noPerm },
    );
  }
  if (!stat.isDirectory()) {
    throw new BulkmailerError('E_SPOOL_SHAPE', `spool directory ${dir} is not a directory; move it away and run again`, {
      exitCode: ExitCode.cantCreate,
    });
  }
  // Read now, not at module load: the sendmail snapshot evaluates this module when it is built, maybe as root.
  const ourUid = currentUid();
  if (ourUid !== null && stat.uid !== ourUid) {
    throw new BulkmailerError('E_SPOOL_OWNER', `spool directory ${dir} belongs to uid ${stat.uid}, not to you (uid ${ourUid})`, {
      exitCode: ExitCode.noPerm,
    });
  }
}

/** lstat's answer, or null when nothing is there. */
function lstatOrNull(dir: string): fs.Stats | null {
  try {
    return fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromFsError(`cannot check spool directory ${dir}`, err);
  }
}

/**
 * Directories checked (or made) by this process, so that an enqueue does
 * not check its bucket again: the full check adds all of them, and an
 * enqueue-only open adds what it checked.
 */
const checked = new Set<string>();

/** Makes `dir` (0700) if it is missing; refuses it if it is not a real directory of ours. */
function ensureSpoolDir(dir: string): void {
  ensureSpoolDirUnrecorded(dir);
  checked.add(dir);
}

function ensureSpoolDirUnrecorded(dir: string): void {
  let stat = lstatOrNull(dir);
  if (stat === null) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      // Its name durable before anything in it is called durable (an enqueue acknowledges a
      // message fsynced inside a bucket made a moment ago). Once per directory, ever.
      fsyncDirSync(path.dirname(dir));
      return;
    } catch (err) {
      // Another process made it meanwhile: check what it made.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(`cannot create spool directory ${dir}`, err);
    }
    stat = lstatOrNull(dir);
    if (stat === null) throw new BulkmailerError('E_SPOOL_SHAPE', `spool directory ${dir} vanished while it was made`, { exitCode: ExitCode.cantCreate });
  }
  checkDirStat(dir, stat);
}

/**
 * What is wrong with the spool's directories, one sentence each, creating
 * and changing nothing (for doctor); missing ones are not a problem here.
 */
export function inspectSpoolDirectories(spool: Spool): string[] {
  const problems: string[] = [];
  for (const dir of [...requiredDirs(spool), ...optionalDirs(spool)]) {
    try {
      const stat = lstatOrNull(dir);
      if (stat !== null) checkDirStat(dir, stat);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

/**
 * Creates what is missing and checks every spool directory; returns
 * warnings (an entry lock directory that could not be trusted and was
 * replaced). Throws as the header says.
 */
export function ensureSpoolDirectories(spool: Spool): string[] {
  for (const dir of requiredDirs(spool)) ensureSpoolDir(dir);
  for (const dir of optionalDirs(spool)) {
    const stat = lstatOrNull(dir);
    if (stat !== null) checkDirStat(dir, stat);
  }
  const warning = prepareEntryLockDir(spool);
  return warning === null ? [] : [warning];
}

/**
 * The enqueue-only open (see the header): creates what is missing of tmp/,
 * msg/, state/ and lock/, and refuses any of them that is a link, not a
 * directory, or not ours. The entry lock directory is left to the rare
 * path that needs it (an enqueue taking its entry back out).
 */
export function ensureEnqueueDirectories(spool: Spool): void {
  for (const dir of [spool.tmp, spool.msg, spool.state, spool.lock]) ensureSpoolDir(dir);
}

/**
 * Before an enqueue writes into `bucket`: its msg/ and state/ directories
 * are checked (and made if missing) once per process, unless the full
 * check already did.
 */
export function ensureBucketDirectories(spool: Spool, bucket: string): void {
  for (const dir of [messageBucketDir(spool, bucket), stateBucketDir(spool, bucket)]) {
    if (!checked.has(dir)) ensureSpoolDir(dir);
  }
}
