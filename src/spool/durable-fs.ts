/**
 * The durable write: temp file in the target's filesystem, fsync, rename,
 * fsync the directory. After `writeFileDurable` returns, the file survives
 * a power cut with either its old or its new content, never a mix.
 */
import fs from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates `file` exclusively (fails if it exists), writes `data`, fsyncs it. */
export async function writeNewFileSynced(file: string, data: string | Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Atomically replaces `target` with `data`: write `temp`, fsync, rename,
 * fsync the target's directory. `temp` must be on the same filesystem.
 */
export async function replaceFileDurable(temp: string, target: string, targetDir: string, data: string | Uint8Array) {
  try {
    await writeNewFileSynced(temp, data);
    await fs.rename(temp, target);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => {});
    throw err;
  }
  await fsyncDir(targetDir);
}

export async function removeIfExists(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
