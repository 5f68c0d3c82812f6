/**
 * Opening the spool: the directory tree exists, belongs to this user, and is
 * private (0700). A spool left group- or world-accessible is tightened, as
 * ssh does for ~/.ssh; one owned by someone else is refused (exit 77), and
 * so is a home that another user owns or can write, or one below such a
 * directory (E_UNTRUSTED_PATH, exit 77), and a spool directory that is a
 * symbolic link or not ours (spool-dirs.ts, exit 77).
 *
 * Two depths: the full open checks (and makes) every spool directory; the
 * enqueue-only open (`{ only: 'enqueue' }`, for a process that queues one
 * message and exits: the sendmail command) checks those an enqueue writes
 * into, the rest of the rule being the flusher's (spool-dirs.ts). Both are
 * synchronous underneath: a one-shot process never starts libuv's thread
 * pool for them.
 */
import fs from 'node:fs';
import { BulkmailerError, ExitCode, fromFsError } from '../errors.js';
import { checkTrustedPath } from '../trusted-path.js';
import { spoolLayout, type Spool } from './paths.js';
import { ensureEnqueueDirectories, ensureSpoolDirectories } from './spool-dirs.js';

export interface OpenSpoolOptions {
  /**
   * 'enqueue': check only what an enqueue uses (see the header); the spool
   * returned is then `oneShot` (paths.ts), and so is its enqueue.
   */
  only?: 'enqueue';
  /**
   * For a process that enqueues one message after another (the listener):
   * the spool returned is `spareFiles` (paths.ts, spare-files.ts).
   */
  spareFiles?: boolean;
}

type Depth = 'full' | 'enqueue';

/** Spools this process has opened, and how deeply they were checked. */
const opened = new Map<string, Depth>();

function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** The spool root is ours (else E_SPOOL_OWNER) and private (tightened if not). */
function checkRoot(root: string, stat: fs.Stats): void {
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new BulkmailerError('E_SPOOL_OWNER', `spool ${root} belongs to uid ${stat.uid}, not to you`, {
      exitCode: ExitCode.noPerm,
    });
  }
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(root, 0o700);
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export async function openSpool(home: string, options: OpenSpoolOptions = {}): Promise<Spool> {
  if (options.only !== 'enqueue') {
    const spool = openSpoolSync(home, 'full');
    if (options.spareFiles === true) spool.spareFiles = true;
    return spool;
  }
  // How it was opened, carried by the spool (each open returns a new layout): however deeply
  // this process had checked it before, this caller queues one message and exits.
  const spool = openSpoolSync(home, 'enqueue');
  spool.oneShot = true;
  return spool;
}

function openSpoolSync(home: string, depth: Depth): Spool {
  const spool = spoolLayout(home);
  const done = opened.get(spool.root);
  if (done === 'full' || done === depth) return spool;
  // Before creating anything in it: a home another user can change is theirs (src/trusted-path.ts).
  // Enqueue-only (a one-shot process): not walked again when its config.json's check covered the home.
  checkTrustedPath(home, 'the bulkmailer home', { oneShot: depth === 'enqueue' });
  let checkedDepth: Depth = 'full';
  try {
    // An existing spool (every run but the first) costs one stat here, not a mkdir and a stat per level.
    const existing = depth === 'enqueue' ? statOrNull(spool.root) : null;
    if (existing === null) {
      ensurePrivateDir(home);
      ensurePrivateDir(spool.root);
    }
    checkRoot(spool.root, existing ?? fs.statSync(spool.root));
    // Real directories of ours below it, no symbolic links (spool-dirs.ts); repair checks all again at every flush.
    if (depth === 'enqueue' && existing !== null) {
      ensureEnqueueDirectories(spool);
      checkedDepth = 'enqueue';
    } else {
      ensureSpoolDirectories(spool); // a new spool is made whole at once
    }
  } catch (err) {
    if (err instanceof BulkmailerError) throw err;
    throw fromFsError(`cannot open spool in ${home}`, err);
  }
  opened.set(spool.root, checkedDepth);
  return spool;
}
