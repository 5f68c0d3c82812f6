/**
 * Doctor: the home, config.json and the spool, and every directory above
 * them, belong to this user or root and are writable by nobody else
 * (src/trusted-path.ts, ssh's StrictModes). Every command refuses such a
 * home with exit 77; this check says which path and what to do. Only looks.
 */
import { configPath } from '../config/store.js';
import { spoolLayout } from '../spool/index.js';
import { findUntrustedPath } from '../trusted-path.js';
import { fail, pass, type CheckResult } from './check.js';

export function checkTrust(home: string): CheckResult {
  const title = 'home, config and spool writable by you alone';
  for (const target of [configPath(home), spoolLayout(home).root]) {
    try {
      const found = findUntrustedPath(target);
      if (found !== null) return fail('trust', title, `${found.path} ${found.problem}: every command refuses this home (exit 77)`, found.fix);
    } catch (err) {
      return fail('trust', title, `cannot check ${target}: ${(err as Error).message}`, `make the directories above ${home} searchable by you`);
    }
  }
  return pass('trust', title, `${home} and every directory above it`);
}
