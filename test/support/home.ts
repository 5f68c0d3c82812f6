/**
 * A fresh bulkmailer home per test in the system temp dir, removed after.
 * Tests never touch the real user's home.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeEntryLockTarget } from '../../src/spool/index.js';

export interface TempHome {
  home: string;
  cleanup(): Promise<void>;
}

export async function makeTempHome(prefix = 'bulkmailer-test-'): Promise<TempHome> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return {
    home,
    cleanup: async () => {
      await removeLockTargetsBelow(home, 3);
      await fs.rm(home, { recursive: true, force: true });
    },
  };
}

/**
 * Tests make homes inside homes: remove the tmpfs lock directory of each
 * (see entry-lock-dir.ts). A directory named `spool` is not descended into
 * (a home's spool holds no home), but may itself be a home (tests name a
 * home `spool`), so its lock target goes too.
 */
async function removeLockTargetsBelow(dir: string, depth: number): Promise<void> {
  removeEntryLockTarget(dir);
  if (depth === 0) return;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    if (entry.name === 'spool') removeEntryLockTarget(path.join(dir, entry.name));
    else await removeLockTargetsBelow(path.join(dir, entry.name), depth - 1);
  }
}

/**
 * A home one level inside a fresh temp directory (`base`), with a config:
 * for tests that put things beside the home (another user's directory, a
 * link target) or change the directory above it. Removed after the test.
 */
export async function makeHomeInBase(
  t: { after: (fn: () => Promise<void>) => void },
  config: Record<string, unknown>,
): Promise<{ base: string; home: string }> {
  const { home: base, cleanup } = await makeTempHome();
  t.after(cleanup);
  const home = path.join(base, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  await writeConfig(home, config);
  return { base, home };
}

/** Writes a config.json directly (as a user's editor would). */
export async function writeConfig(home: string, config: Record<string, unknown>): Promise<void> {
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify(config, null, 2), { mode: 0o600 });
}
