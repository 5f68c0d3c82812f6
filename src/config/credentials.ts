/**
 * The smarthost password, from wherever the user keeps it, in this order:
 * auth.passwordCommand (a command such as `pass show mail`, like msmtp's
 * passwordeval), auth.passwordEnv (an environment variable), auth.pass, the
 * password in the URL. The password is resolved only when a connection is
 * about to authenticate, and it never appears in an error message.
 */
import { execFile } from 'node:child_process';
import { configError } from '../errors.js';
import type { StoredAccountSettings } from './accounts.js';
import type { Smarthost } from './smarthost.js';

export interface Credentials {
  user: string;
  pass: string;
}

const COMMAND_TIMEOUT_MS = 30_000;

function runPasswordCommand(command: string, keyPrefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 }, (err, stdout) => {
      if (err) {
        // The command line may itself contain secrets: name it only by key.
        const exit = (err as { code?: unknown }).code;
        reject(configError(`${keyPrefix}auth.passwordCommand failed (exit ${String(exit ?? 'signal')})`, 'E_PASSWORD_COMMAND'));
        return;
      }
      const first = stdout.split(/\r?\n/)[0] ?? '';
      if (first === '') reject(configError(`${keyPrefix}auth.passwordCommand printed no password`, 'E_PASSWORD_COMMAND'));
      else resolve(first);
    });
  });
}

/** Null when no user name is configured: the session does not authenticate. */
export async function resolveCredentials(
  stored: Pick<StoredAccountSettings, 'auth'>,
  smarthost: Smarthost,
  env: NodeJS.ProcessEnv = process.env,
  /** Where the account's keys live, for messages ("accounts.NAME."; "" for the default account). */
  keyPrefix = '',
): Promise<Credentials | null> {
  const user = stored.auth.user ?? smarthost.user;
  if (user === null) return null;
  if (stored.auth.passwordCommand !== null) return { user, pass: await runPasswordCommand(stored.auth.passwordCommand, keyPrefix) };
  if (stored.auth.passwordEnv !== null) {
    const pass = env[stored.auth.passwordEnv];
    if (pass === undefined || pass === '') {
      throw configError(`${keyPrefix}auth.passwordEnv: environment variable ${stored.auth.passwordEnv} is not set`, 'E_PASSWORD_ENV');
    }
    return { user, pass };
  }
  const pass = stored.auth.pass ?? smarthost.pass;
  if (pass === null) throw configError(`smarthost user ${user} has no password configured`, 'E_NO_PASSWORD');
  return { user, pass };
}
