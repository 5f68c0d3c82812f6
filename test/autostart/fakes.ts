/**
 * A temp HOME for autostart tests, with fake systemctl and crontab
 * programs (named by BULKMAILER_SYSTEMCTL / BULKMAILER_CRONTAB) that record
 * what they were asked and keep the crontab in a file: the real user's
 * crontab and systemd manager are never touched.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCli, type RunResult } from '../support/cli.js';
import { makeTempHome, type TempHome } from '../support/home.js';

export interface AutostartSandbox {
  dir: TempHome;
  /** HOME for the commands. */
  userHome: string;
  /** The bulkmailer home passed with --home (has a space and shell/systemd specials in it). */
  bmHome: string;
  crontabFile: string;
  systemctlLog: string;
  env: Record<string, string>;
  run(args: string[], extraEnv?: Record<string, string>): Promise<RunResult>;
  systemctlCalls(): Promise<string[]>;
  cleanup(): Promise<void>;
}

const FAKE_CRONTAB = `#!/bin/sh
f="$HOME/fake-crontab"
case "$1" in
  -l) if [ -f "$f" ]; then cat "$f"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -) cat > "$f"; echo write >> "$HOME/crontab-writes" ;;
  *) echo "usage" >&2; exit 2 ;;
esac
`;

const FAKE_SYSTEMCTL = `#!/bin/sh
echo "$*" >> "$HOME/systemctl.log"
case "$2" in
  is-enabled) echo enabled ;;
  is-active) echo active ;;
esac
exit 0
`;

export async function makeSandbox(): Promise<AutostartSandbox> {
  const dir = await makeTempHome('bulkmailer-autostart-');
  const userHome = path.join(dir.home, 'user');
  const bmHome = path.join(dir.home, "bm home 100% $HOME 'q'");
  const bin = path.join(dir.home, 'fakebin');
  await fs.mkdir(userHome);
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, 'crontab'), FAKE_CRONTAB, { mode: 0o755 });
  await fs.writeFile(path.join(bin, 'systemctl'), FAKE_SYSTEMCTL, { mode: 0o755 });
  const env: Record<string, string> = {
    HOME: userHome,
    XDG_CONFIG_HOME: '',
    XDG_RUNTIME_DIR: '',
    XDG_CURRENT_DESKTOP: '',
    DESKTOP_SESSION: '',
    DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus',
    BULKMAILER_CRONTAB: path.join(bin, 'crontab'),
    BULKMAILER_SYSTEMCTL: path.join(bin, 'systemctl'),
    BULKMAILER_LAUNCHCTL: path.join(bin, 'no-launchctl-here'),
  };
  const sandbox: AutostartSandbox = {
    dir,
    userHome,
    bmHome,
    crontabFile: path.join(userHome, 'fake-crontab'),
    systemctlLog: path.join(userHome, 'systemctl.log'),
    env,
    run: (args, extraEnv = {}) => runCli(['--home', bmHome, ...args], { home: bmHome, env: { ...env, ...extraEnv } }),
    systemctlCalls: async () =>
      (await fs.readFile(path.join(userHome, 'systemctl.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    cleanup: () => dir.cleanup(),
  };
  return sandbox;
}

/** Every file below `dir`, relative, sorted: to prove uninstall leaves only what was there. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const entry of await fs.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) await walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  await walk(dir);
  return out.sort();
}
