/**
 * Autostart: one module per kind, and the choice of kind when the user
 * gives none: launchd on macOS; on Linux systemd when a user manager is
 * reachable, else xdg in a desktop session, else cron. Status without a
 * kind looks at every kind (a user may have installed several).
 */
import fs from 'node:fs';
import path from 'node:path';
import { findTool } from './run-tool.js';
import { cronKind } from './cron.js';
import { launchdKind } from './launchd.js';
import { systemdKind } from './systemd.js';
import { xdgKind } from './xdg.js';
import type { AutostartEnv, AutostartKind, AutostartKindModule } from './common.js';

export * from './common.js';

export const KIND_MODULES: Record<AutostartKind, AutostartKindModule> = {
  systemd: systemdKind,
  launchd: launchdKind,
  xdg: xdgKind,
  cron: cronKind,
};

export function detectKind(env: AutostartEnv): AutostartKind {
  if (env.platform === 'darwin') return 'launchd';
  const runtime = env.env.XDG_RUNTIME_DIR;
  const userBus = Boolean(env.env.DBUS_SESSION_BUS_ADDRESS) || (runtime !== undefined && runtime !== '' && fs.existsSync(path.join(runtime, 'bus')));
  if (findTool('systemctl', env.env) !== null && userBus && fs.existsSync('/run/systemd/system')) return 'systemd';
  if (env.env.XDG_CURRENT_DESKTOP || env.env.DESKTOP_SESSION) return 'xdg';
  return 'cron';
}
