/**
 * Doctor: who flushes this queue. The agent (or a flush) is running when
 * a live process holds the spool's instance lock; autostart is asked of
 * each kind's module in src/autostart (a kind whose status cannot be read
 * within STATUS_TIMEOUT_MS is left out of the answer).
 *
 * Informational: it never fails doctor. Nothing installed is a warning
 * (mail then goes only when someone runs `bulkmailer flush`).
 */
import { existsSync } from 'node:fs';
import { instanceLockPath, lockHolder, spoolLayout, triggerSocketPath } from '../spool/index.js';
import { KIND_MODULES, makeAutostartEnv, type AutostartEnv, type AutostartKind, type KindStatus } from '../autostart/index.js';
import { pass, skip, warn, type CheckResult } from './check.js';

const STATUS_TIMEOUT_MS = 5_000;

export async function checkAgent(home: string): Promise<CheckResult> {
  const spool = spoolLayout(home);
  if (!existsSync(spool.lock)) return skip('agent', 'agent or flush running', 'no spool yet');
  const holder = lockHolder(instanceLockPath(spool));
  if (holder === null) return pass('agent', 'agent or flush running', 'none running now (fine: cron or a later flush will deliver)');
  const agent = existsSync(triggerSocketPath(spool));
  return pass('agent', 'agent or flush running', `${agent ? 'the agent' : 'a flush'} is running (pid ${holder.pid})`);
}

function kindsFor(platform: NodeJS.Platform): AutostartKind[] {
  return platform === 'darwin' ? ['launchd', 'cron'] : ['systemd', 'xdg', 'cron'];
}

export async function checkAutostart(home: string, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult> {
  const id = 'autostart';
  const title = 'autostart installed';
  let autostartEnv: AutostartEnv;
  try {
    autostartEnv = makeAutostartEnv(home, { env });
  } catch (err) {
    return skip(id, title, `cannot check: ${(err as Error).message}`);
  }
  const installed: string[] = [];
  const checked: string[] = [];
  for (const kind of kindsFor(process.platform)) {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      KIND_MODULES[kind].status(autostartEnv).catch((): KindStatus | null => null),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), STATUS_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (result === null) continue;
    checked.push(kind);
    if (result.installed) {
      const other = result.home !== null && result.home !== home ? ` (for another home: ${result.home})` : '';
      installed.push(`${kind}${other}${result.details.length > 0 ? ` [${result.details.join('; ')}]` : ''}`);
    }
  }
  if (checked.length === 0) return skip(id, title, 'no autostart kind could be checked on this system');
  if (installed.length > 0) return pass(id, title, installed.join(', '));
  return warn(id, title, `nothing installed (checked: ${checked.join(', ')}): mail goes only when you run \`bulkmailer flush\``, 'bulkmailer autostart install (the agent at login), or --kind cron (a flush every few minutes)');
}
