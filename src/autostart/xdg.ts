/**
 * The xdg kind: a desktop entry in ~/.config/autostart/ ($XDG_CONFIG_HOME
 * respected) that desktop sessions (GNOME, KDE, Xfce...) start at login,
 * for Linux desktops without a systemd user manager. There is no restart on
 * failure here; the agent is built not to die (flush errors are logged and
 * retried), and a cron flush can back it up.
 *
 * Exec quoting follows the Desktop Entry Specification: each word in double
 * quotes with \ " ` $ escaped, % doubled, and then the string-level escaping
 * of backslashes. Fails: E_FOREIGN for a file of that name without our marker.
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

export const DESKTOP_FILE = 'bulkmailer-agent.desktop';

export function desktopPath(env: AutostartEnv): string {
  return path.join(env.configHome, 'autostart', DESKTOP_FILE);
}

export function quoteExecWord(word: string): string {
  const quoted = `"${word.replace(/([\\"`$])/g, '\\$1').replace(/%/g, '%%')}"`;
  return quoted.replace(/\\/g, '\\\\'); // the string type's own escaping
}

export function parseExec(value: string): string[] {
  const unescaped = value.replace(/\\(.)/g, (_, c: string) => ({ s: ' ', n: '\n', t: '\t', r: '\r' })[c] ?? c);
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(unescaped); m !== null; m = re.exec(unescaped)) {
    words.push((m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!).replace(/%%/g, '%'));
  }
  return words;
}

export function renderDesktopEntry(env: AutostartEnv): string {
  return [
    `# ${MARKER}: written by "bulkmailer autostart install"; remove with "bulkmailer autostart uninstall --kind xdg".`,
    '[Desktop Entry]',
    'Type=Application',
    'Version=1.0',
    'Name=bulkmailer agent',
    'Comment=Deliver queued mail whenever a smarthost is reachable',
    `TryExec=${env.nodePath.replace(/\\/g, '\\\\')}`,
    `Exec=${agentArgv(env).map(quoteExecWord).join(' ')}`,
    'Terminal=false',
    'NoDisplay=true',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

export const xdgKind: AutostartKindModule = {
  async install(env): Promise<InstallReport> {
    const file = desktopPath(env);
    const change = await writeOwnedFile(file, renderDesktopEntry(env));
    const todo = change === 'unchanged' ? [] : ['log out and in again (or run the agent now: bulkmailer agent &)'];
    return { kind: 'xdg', target: file, change, ran: [], todo };
  },

  async uninstall(env): Promise<UninstallReport> {
    const file = desktopPath(env);
    const removed = await removeOwnedFile(file);
    return { kind: 'xdg', target: file, removed, ran: [], todo: [] };
  },

  async status(env): Promise<KindStatus> {
    const file = desktopPath(env);
    const text = await readIfExists(file);
    const exec = text === null ? null : /^Exec=(.*)$/m.exec(text);
    return {
      kind: 'xdg',
      target: file,
      installed: text !== null && text.includes(MARKER),
      home: exec ? homeFromArgv(parseExec(exec[1]!)) : null,
      details: [],
    };
  },
};
