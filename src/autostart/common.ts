/**
 * What every autostart kind shares: where the user's files go (from HOME
 * and XDG_CONFIG_HOME of the environment given, never the real user's when
 * a test points HOME elsewhere), the agent's command line (absolute node,
 * absolute bin/bulkmailer, the install command's --home), the marker that
 * tells our files from the user's, and the result types the CLI prints.
 *
 * Fails with a usage error (64) for a path that cannot be written safely
 * into a unit, desktop entry or crontab (a newline in it), and with E_FOREIGN
 * (73) rather than overwrite or delete a file that bulkmailer did not write.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BulkmailerError, ExitCode, usageError } from '../errors.js';

export type AutostartKind = 'systemd' | 'launchd' | 'xdg' | 'cron';
export const AUTOSTART_KINDS: readonly AutostartKind[] = ['systemd', 'launchd', 'xdg', 'cron'];

/** Present in every file or line we write; uninstall touches nothing without it. */
export const MARKER = 'bulkmailer-autostart';

export interface AutostartEnv {
  /** The bulkmailer home the agent (or flush) will use: the install command's. */
  home: string;
  /** The user's home directory (HOME). */
  userHome: string;
  configHome: string;
  nodePath: string;
  binPath: string;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** Cron kind: flush every N minutes. */
  everyMinutes: number;
  /**
   * listener.enabled in the home's config: the agent must run for the SMTP
   * listener to, so the cron kind (which only flushes) also starts the
   * agent at boot.
   */
  listener: boolean;
}

export interface InstallReport {
  kind: AutostartKind;
  /** The file (or "crontab") that was written. */
  target: string;
  /** installed: new; updated: replaced an older version; unchanged: already as wanted. */
  change: 'installed' | 'updated' | 'unchanged';
  /** Commands that were run, with how they ended. */
  ran: string[];
  /** What the user still has to do, if anything. */
  todo: string[];
}

export interface UninstallReport {
  kind: AutostartKind;
  target: string;
  removed: boolean;
  ran: string[];
  todo: string[];
}

export interface KindStatus {
  kind: AutostartKind;
  target: string;
  installed: boolean;
  /** The --home the installed file runs with, when installed. */
  home: string | null;
  /** Extra facts: "systemctl: active", "every 5 minutes"... */
  details: string[];
}

export interface AutostartKindModule {
  install(env: AutostartEnv): Promise<InstallReport>;
  uninstall(env: AutostartEnv): Promise<UninstallReport>;
  status(env: AutostartEnv): Promise<KindStatus>;
}

/** bin/bulkmailer of this installation, found from this module (dist/autostart/ or src/autostart/). */
export function defaultBinPath(): string {
  return fileURLToPath(new URL('../../bin/bulkmailer', import.meta.url));
}

export function makeAutostartEnv(
  home: string,
  options: { env?: NodeJS.ProcessEnv; everyMinutes?: number; nodePath?: string; binPath?: string; platform?: NodeJS.Platform; listener?: boolean } = {},
): AutostartEnv {
  const env = options.env ?? process.env;
  const userHome = env.HOME && env.HOME !== '' ? env.HOME : os.homedir();
  const configHome = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(userHome, '.config');
  const result: AutostartEnv = {
    home: path.resolve(home),
    userHome,
    configHome,
    nodePath: options.nodePath ?? process.execPath,
    binPath: options.binPath ?? defaultBinPath(),
    env,
    platform: options.platform ?? process.platform,
    everyMinutes: options.everyMinutes ?? 5,
    listener: options.listener ?? false,
  };
  for (const p of [result.home, result.nodePath, result.binPath]) {
    if (/[\n\r\0]/.test(p)) throw usageError(`cannot write a path with a newline into an autostart file: ${JSON.stringify(p)}`);
  }
  return result;
}

/** The agent's argv: the same everywhere, so status can read the home back. */
export function agentArgv(env: AutostartEnv): string[] {
  return [env.nodePath, env.binPath, '--home', env.home, 'agent'];
}

export function flushArgv(env: AutostartEnv): string[] {
  return [env.nodePath, env.binPath, '--home', env.home, 'flush', '--quiet'];
}

export async function readIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function foreignFileError(file: string): BulkmailerError {
  return new BulkmailerError(
    'E_FOREIGN',
    `${file} exists and was not written by bulkmailer (no "${MARKER}" marker); move it away first`,
    { exitCode: ExitCode.cantCreate },
  );
}

/**
 * Writes `content` to `file` unless it already holds exactly that. Refuses
 * to replace a file without our marker. Written whole to a temp name and
 * renamed, so a half-written unit never exists.
 */
export async function writeOwnedFile(file: string, content: string, mode = 0o644): Promise<'installed' | 'updated' | 'unchanged'> {
  const existing = await readIfExists(file);
  if (existing !== null && !existing.includes(MARKER)) throw foreignFileError(file);
  if (existing === content) return 'unchanged';
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content, { mode });
  await fs.rename(tmp, file);
  return existing === null ? 'installed' : 'updated';
}

/** Removes `file` if it is ours; answers whether it did. */
export async function removeOwnedFile(file: string): Promise<boolean> {
  const existing = await readIfExists(file);
  if (existing === null) return false;
  if (!existing.includes(MARKER)) throw foreignFileError(file);
  await fs.rm(file, { force: true });
  return true;
}

/** The value after `--home` in an argv we wrote. */
export function homeFromArgv(argv: readonly string[]): string | null {
  const i = argv.indexOf('--home');
  return i >= 0 && i + 1 < argv.length ? argv[i + 1]! : null;
}
