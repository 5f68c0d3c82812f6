/**
 * The systemd kind: a user unit, ~/.config/systemd/user/bulkmailer-agent.service
 * ($XDG_CONFIG_HOME respected), started with the user's session
 * (WantedBy=default.target) and restarted on failure. When systemctl is
 * installed and a user bus exists, install runs daemon-reload, enable and
 * start (restart when the unit changed); otherwise it writes the unit and
 * says what to run. uninstall disables and stops it, then removes the unit.
 *
 * Fails: E_FOREIGN when a unit of that name exists without our marker.
 * A failing systemctl is reported (and what to run by hand), not thrown:
 * the unit file is in place either way.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  MARKER,
  agentArgv,
  homeFromArgv,
  readIfExists,
  removeOwnedFile,
  writeOwnedFile,
  type AutostartEnv,
  type AutostartKindModule,
  type InstallReport,
  type KindStatus,
  type UninstallReport,
} from './common.js';
import { findTool, runTool } from './run-tool.js';
import { SERVICE_STOP_TIMEOUT_S } from '../timing.js';

export const UNIT_NAME = 'bulkmailer-agent.service';

export function unitPath(env: AutostartEnv): string {
  return path.join(env.configHome, 'systemd', 'user', UNIT_NAME);
}

/** One ExecStart word: double-quoted, with systemd's escapes for \ " % and $. */
export function quoteSystemdWord(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** The inverse of quoteSystemdWord over a whole ExecStart value (bare words too). */
export function parseSystemdCommand(value: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!;
    words.push(raw.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

export function renderUnit(env: AutostartEnv): string {
  return [
    `# ${MARKER}: written by "bulkmailer autostart install"; remove with "bulkmailer autostart uninstall --kind systemd".`,
    '[Unit]',
    'Description=bulkmailer agent: deliver queued mail whenever a smarthost is reachable',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${agentArgv(env).map(quoteSystemdWord).join(' ')}`,
    // `systemctl --user reload bulkmailer-agent` = SIGHUP = re-read config.json.
    'ExecReload=kill -HUP $MAINPID',
    'Restart=on-failure',
    'RestartSec=10',
    // Usage and config errors do not heal by restarting: fix config.json, then `systemctl --user restart`.
    'RestartPreventExitStatus=64 78',
    `TimeoutStopSec=${SERVICE_STOP_TIMEOUT_S}`,
    'KillSignal=SIGTERM',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/** systemctl --user works only with a user manager reachable over its bus. */
function systemctlUsable(env: AutostartEnv): boolean {
  if (findTool('systemctl', env.env) === null) return false;
  if (env.env.DBUS_SESSION_BUS_ADDRESS) return true;
  const runtime = env.env.XDG_RUNTIME_DIR;
  return runtime !== undefined && runtime !== '' && fs.existsSync(path.join(runtime, 'bus'));
}

async function systemctl(env: AutostartEnv, args: string[], ran: string[]): Promise<boolean> {
  const result = await runTool('systemctl', ['--user', ...args], env.env);
  ran.push(result.summary);
  return result.code === 0;
}

export const systemdKind: AutostartKindModule = {
  async install(env): Promise<InstallReport> {
    const file = unitPath(env);
    const change = await writeOwnedFile(file, renderUnit(env));
    const ran: string[] = [];
    const todo: string[] = [];
    const manual = ['systemctl --user daemon-reload', `systemctl --user enable --now ${UNIT_NAME}`];
    if (systemctlUsable(env)) {
      const ok =
        (await systemctl(env, ['daemon-reload'], ran)) &&
        (await systemctl(env, ['enable', UNIT_NAME], ran)) &&
        (await systemctl(env, [change === 'unchanged' ? 'start' : 'restart', UNIT_NAME], ran));
      if (!ok) todo.push(...manual);
    } else {
      todo.push(...manual);
    }
    return { kind: 'systemd', target: file, change, ran, todo };
  },

  async uninstall(env): Promise<UninstallReport> {
    const file = unitPath(env);
    const ran: string[] = [];
    const todo: string[] = [];
    const present = (await readIfExists(file)) !== null;
    const usable = systemctlUsable(env);
    if (present && usable) await systemctl(env, ['disable', '--now', UNIT_NAME], ran);
    const removed = await removeOwnedFile(file);
    if (removed && usable) await systemctl(env, ['daemon-reload'], ran);
    if (removed && !usable) todo.push(`systemctl --user disable --now ${UNIT_NAME}`, 'systemctl --user daemon-reload');
    return { kind: 'systemd', target: file, removed, ran, todo };
  },

  async status(env): Promise<KindStatus> {
    const file = unitPath(env);
    const text = await readIfExists(file);
    const details: string[] = [];
    let home: string | null = null;
    if (text !== null) {
      const exec = /^ExecStart=(.*)$/m.exec(text);
      home = exec ? homeFromArgv(parseSystemdCommand(exec[1]!)) : null;
      if (!text.includes(MARKER)) details.push('not written by bulkmailer');
      if (systemctlUsable(env)) {
        for (const query of ['is-enabled', 'is-active']) {
          const r = await runTool('systemctl', ['--user', query, UNIT_NAME], env.env);
          details.push(`systemctl ${query}: ${r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`}`);
        }
      }
    }
    return { kind: 'systemd', target: file, installed: text !== null && text.includes(MARKER), home, details };
  },
};
