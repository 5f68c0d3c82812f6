/**
 * Opening the spool: the directory tree exists, belongs to this user, and is
 * private (0700). A spool left group- or world-accessible is tightened, as
 * ssh does for ~/.ssh; one owned by someone else is refused (exit 77), and
 * so is a home that another user owns or can write, or one below such a
 * directory (E_UNTRUSTED_PATH, exit 77), and a spool directory that is a
 * symbolic link or not ours (spool-dirs.ts, exit 77).
 */
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import { BulkmailerError, ExitCode, fromFsError } from '../errors.js';
import { checkTrustedPath } from '../trusted-path.js';
import { spoolLayout, type Spool } from './paths.js';
import { ensureSpoolDirectories } from './spool-dirs.js';

const created = new Set<string>();

// Synchronous: on an existing spool each call is a failed mkdir and a stat,
// microseconds each, where ~40 trips through libuv's thread pool cost the
// sendmail command (one process per message) about a millisecond.
function ensurePrivateDir(dir: string): void {
  fsSync.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export async function openSpool(home: string): Promise<Spool> {
  const spool = spoolLayout(home);
  if (created.has(spool.root)) return spool;
  // Before creating anything in it: a home another user can change is theirs (src/trusted-path.ts).
  checkTrustedPath(home, 'the bulkmailer home');
  try {
    ensurePrivateDir(home);
    ensurePrivateDir(spool.root);
    const stat = await fs.stat(spool.root);
    if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
      throw new BulkmailerError('E_SPOOL_OWNER', `spool ${spool.root} belongs to uid ${stat.uid}, not to you`, {
        exitCode: ExitCode.noPerm,
      });
    }
    if ((stat.mode & 0o077) !== 0) await fs.chmod(spool.root, 0o700);
    // Real directories of ours below it, no symbolic links (spool-dirs.ts); repair checks again at every flush.
    ensureSpoolDirectories(spool);
  } catch (err) {
    if (err instanceof BulkmailerError) throw err;
    throw fromFsError(`cannot open spool in ${home}`, err);
  }
  created.add(spool.root);
  return spool;
}
