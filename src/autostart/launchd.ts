/**
 * The launchd kind (macOS): a LaunchAgent, ~/Library/LaunchAgents/org.bulkmailer.agent.plist,
 * loaded at login (RunAtLoad) and restarted when it exits with a failure
 * (KeepAlive/SuccessfulExit=false: the agent exits 0 on SIGTERM and when
 * another agent already runs, and must not be respawned then). On macOS
 * install loads it with `launchctl bootstrap gui/<uid>` (after a `bootout`
 * when the file changed); elsewhere, or without launchctl, it only writes
 * the file and says what to run.
 *
 * Fails: E_FOREIGN when a plist of that name exists without our marker.
 */
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
import { parsePlist, renderPlist, type PlistValue } from './plist.js';
import { findTool, runTool } from './run-tool.js';
import { SERVICE_STOP_TIMEOUT_S } from '../timing.js';

export const LAUNCHD_LABEL = 'org.bulkmailer.agent';

export function plistPath(env: AutostartEnv): string {
  return path.join(env.userHome, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

export function renderLaunchAgent(env: AutostartEnv): string {
  return renderPlist(
    {
      Label: LAUNCHD_LABEL,
      ProgramArguments: agentArgv(env),
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ProcessType: 'Background',
      ExitTimeOut: SERVICE_STOP_TIMEOUT_S,
      ThrottleInterval: 10,
    },
    `${MARKER}: written by "bulkmailer autostart install"; remove with "bulkmailer autostart uninstall --kind launchd".`,
  );
}

function launchctlUsable(env: AutostartEnv): boolean {
  if (env.env.BULKMAILER_LAUNCHCTL) return findTool('launchctl', env.env) !== null;
  return env.platform === 'darwin' && findTool('launchctl', env.env) !== null;
}

function domain(): string {
  return `gui/${typeof process.getuid === 'function' ? process.getuid() : 501}`;
}

export const launchdKind: AutostartKindModule = {
  async install(env): Promise<InstallReport> {
    const file = plistPath(env);
    const change = await writeOwnedFile(file, renderLaunchAgent(env));
    const ran: string[] = [];
    const todo: string[] = [];
    const manual = `launchctl bootstrap ${domain()} ${file}`;
    if (launchctlUsable(env)) {
      const loaded = (await runTool('launchctl', ['print', `${domain()}/${LAUNCHD_LABEL}`], env.env)).code === 0;
      if (loaded && change !== 'unchanged') {
        ran.push((await runTool('launchctl', ['bootout', `${domain()}/${LAUNCHD_LABEL}`], env.env)).summary);
      }
      if (!loaded || change !== 'unchanged') {
        const r = await runTool('launchctl', ['bootstrap', domain(), file], env.env);
        ran.push(r.summary);
        if (r.code !== 0) todo.push(manual);
      }
    } else {
      todo.push(manual);
    }
    return { kind: 'launchd', target: file, change, ran, todo };
  },

  async uninstall(env): Promise<UninstallReport> {
    const file = plistPath(env);
    const ran: string[] = [];
    const todo: string[] = [];
    const present = (await readIfExists(file)) !== null;
    if (present && launchctlUsable(env)) {
      ran.push((await runTool('launchctl', ['bootout', `${domain()}/${LAUNCHD_LABEL}`], env.env)).summary);
    } else if (present) {
      todo.push(`launchctl bootout ${domain()}/${LAUNCHD_LABEL}`);
    }
    const removed = await removeOwnedFile(file);
    return { kind: 'launchd', target: file, removed, ran, todo };
  },

  async status(env): Promise<KindStatus> {
    const file = plistPath(env);
    const text = await readIfExists(file);
    const details: string[] = [];
    let home: string | null = null;
    if (text !== null) {
      try {
        const root = parsePlist(text) as { [key: string]: PlistValue };
        const argv = root.ProgramArguments;
        if (Array.isArray(argv)) home = homeFromArgv(argv.map(String));
      } catch (err) {
        details.push(`unreadable: ${(err as Error).message}`);
      }
      if (launchctlUsable(env)) {
        const r = await runTool('launchctl', ['print', `${domain()}/${LAUNCHD_LABEL}`], env.env);
        details.push(r.code === 0 ? 'launchctl: loaded' : 'launchctl: not loaded');
      }
    }
    return { kind: 'launchd', target: file, installed: text !== null && text.includes(MARKER), home, details };
  },
};
