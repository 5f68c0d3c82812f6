/**
 * Where a user's bulkmailer lives: `--home DIR`, else $BULKMAILER_HOME,
 * else the platform's per-user data directory. config.json, spool/ and log/
 * are all below it, so one variable moves (or isolates, in tests) everything.
 */
import os from 'node:os';
import path from 'node:path';

export const HOME_ENV = 'BULKMAILER_HOME';

export function defaultHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const userHome = env.HOME ?? os.homedir();
  switch (platform) {
    case 'darwin':
      return path.join(userHome, 'Library', 'Application Support', 'bulkmailer');
    case 'win32':
      return path.join(env.LOCALAPPDATA ?? path.join(userHome, 'AppData', 'Local'), 'bulkmailer');
    default:
      return path.join(env.XDG_DATA_HOME || path.join(userHome, '.local', 'share'), 'bulkmailer');
  }
}

export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env[HOME_ENV];
  return path.resolve(chosen && chosen !== '' ? chosen : defaultHome(env));
}
