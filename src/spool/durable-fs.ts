/**
 * The durable write: temp file in the target's filesystem, fsync, rename,
 * fsync the directory. After `replaceFileDurable` resolves, the file
 * survives a power cut with either its old or its new content, never a mix.
 *
 * Small metadata operations (open, write of a few hundred bytes, rename,
 * close) run synchronously: each takes microseconds, and sending them
 * through libuv's thread pool costs more in hand-offs than the work itself
 * (measured: 5x fewer futex calls, see docs/performance.md). Only fsync,
 * which waits for the disk, goes to the thread pool, so many workers can
 * wait for their fsyncs at once.
 */
import fs from 'node:fs';

/**
 * Flags for opening spool files: a symbolic link in a spool file's place is
 * never followed (the open fails with ELOOP), so no link can make another
 * user's file pass for an entry, a record or a log (the directories above
 * are checked by spool-dirs.ts). Windows has no O_NOFOLLOW (and no symlink
 * attack of this kind to fear from other local users of the spool).
 */
const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
export const READ_NOFOLLOW = fs.constants.O_RDONLY | NOFOLLOW;
export const APPEND_NOFOLLOW = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | NOFOLLOW;

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** A descriptor on a directory, for its fsync (O_DIRECTORY: a file in its place fails ENOTDIR). */
export function openDirectory(dir: string): number {
  return fs.openSync(dir, fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0));
}

export async function fsyncDir(dir: string): Promise<void> {
  const fd = openDirectory(dir);
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync of a directory on the calling thread, for the rare step that has nothing to overlap with (a directory just made). */
export function fsyncDirSync(dir: string): void {
  const fd = openDirectory(dir);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes all of `data` at the file's position (writeSync may write less than asked). */
export function writeAll(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let offset = 0;
  while (offset < bytes.byteLength) offset += fs.writeSync(fd, bytes, offset, bytes.byteLength - offset);
}

/** Writes all of `chunks` (`total` bytes) at the file's position, in one writev when the kernel takes it all. */
export function writeAllv(fd: number, chunks: Uint8Array[], total: number): void {
  const written = fs.writevSync(fd, chunks);
  if (written < total) writeAll(fd, Buffer.concat(chunks).subarray(written));
}

/**
 * Atomically replaces `target` with `data`: write `temp`, fsync, rename,
 * fsync the target's directory. `temp` must be on the same filesystem.
 */
export async function replaceFileDurable(temp: string, target: string, targetDir: string, data: string | Uint8Array): Promise<void> {
  await replaceDurably(temp, target, targetDir, data, false);
}

/**
 * replaceFileDurable, resolving to the new file's stamp (fileStamp), taken
 * with an fstat of the still-open file just after the rename (which sets
 * its ctime): the version now under `target`, with no path lookup, whoever
 * replaces it later. Only entry states are reused by their stamp; other
 * records take the plain one and save the fstat.
 */
export async function replaceFileDurableStamped(temp: string, target: string, targetDir: string, data: string | Uint8Array): Promise<string> {
  return (await replaceDurably(temp, target, targetDir, data, true))!;
}

async function replaceDurably(temp: string, target: string, targetDir: string, data: string | Uint8Array, stamped: boolean): Promise<string | null> {
  let stamp: string | null = null;
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    try {
      writeAll(fd, data);
      await fsyncFd(fd);
      fs.renameSync(temp, target);
    } catch (err) {
      removeIfExists(temp);
      throw err;
    }
    if (stamped) stamp = fileStamp(fs.fstatSync(fd, { bigint: true }));
  } finally {
    fs.closeSync(fd);
  }
  await fsyncDir(targetDir);
  return stamp;
}

/** Errors of link(2) that say the file system has no hard links (some FUSE and SMB mounts): the caller renames instead. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV']);

export function isNoHardLinksError(err: unknown): boolean {
  return NO_HARD_LINKS.has((err as NodeJS.ErrnoException).code ?? '');
}

export function removeIfExists(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

const scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Reads a whole small file in three syscalls (open, read, close) where
 * readFileSync needs five: spool files are replaced by rename, never
 * written in place, so a short read is the end of the file. Never through
 * a symbolic link (ELOOP).
 */
export function readWholeFileSync(file: string): Buffer {
  const fd = fs.openSync(file, READ_NOFOLLOW);
  try {
    return readAllSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * readWholeFileSync plus an fstat of the same open file (one more syscall):
 * the identity of exactly the version read, for `fileStamp`.
 */
export function readWholeFileStampedSync(file: string): { data: Buffer; stamp: string } {
  const fd = fs.openSync(file, READ_NOFOLLOW);
  try {
    const stamp = fileStamp(fs.fstatSync(fd, { bigint: true }));
    return { data: readAllSync(fd), stamp };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * What tells one version of a spool file from another. Spool files are
 * replaced by rename, never written in place, so a new version is a new
 * inode written at another moment; the size and both times make a
 * reused inode number written within the same clock tick the only way
 * to be fooled, and that needs two replacements within that tick.
 */
export function fileStamp(stat: fs.BigIntStats): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

function readAllSync(fd: number): Buffer {
  let buffer = scratch;
  let total = 0;
  for (;;) {
    const wanted = buffer.length - total;
    const read = fs.readSync(fd, buffer, total, wanted, null);
    total += read;
    if (read < wanted) break;
    const bigger = Buffer.allocUnsafe(buffer.length * 2);
    buffer.copy(bigger, 0, 0, total);
    buffer = bigger;
  }
  return Buffer.from(buffer.subarray(0, total));
}
