/**
 * Desktop notifications by the platform's own command: `notify-send`
 * (libnotify, the freedesktop notification D-Bus interface) on Linux and
 * the BSDs, `osascript` (display notification) on macOS. The agent runs in
 * the user's session, so these reach the user's desktop.
 *
 * Why not node-notifier: on Linux it spawns notify-send too, on macOS it
 * ships its own terminal-notifier app bundle and on Windows vendored
 * executables, all in the package (several MB) for two commands we can
 * call directly; its last release is years old with many open issues.
 * Spawning the command with an argument vector (no shell) is a few lines
 * and leaves nothing to keep up to date.
 *
 * Text is passed as arguments, never interpolated into a script: osascript
 * reads it from `argv`, so a subject with quotes cannot inject AppleScript.
 * Failures reject with a sentence (the agent logs it); a missing command
 * says which package provides it.
 */
import { execFile } from 'node:child_process';
import type { Notification, Notifier } from './notifications.js';

/** A notification command that hangs must not pile up processes. */
const COMMAND_TIMEOUT_MS = 10_000;

export type RunCommand = (file: string, args: readonly string[]) => Promise<void>;

const runCommand: RunCommand = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { timeout: COMMAND_TIMEOUT_MS, windowsHide: true }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') reject(new Error(`${file} not found${file === 'notify-send' ? ' (install libnotify-bin or libnotify)' : ''}`));
      else reject(new Error(`${file} failed: ${String(stderr).trim() || err.message}`));
    });
  });

/** The notifier for this platform, or null where there is none (Windows). */
export function desktopNotifier(platform: NodeJS.Platform = process.platform, run: RunCommand = runCommand): Notifier | null {
  if (platform === 'darwin') {
    return {
      notify: (n: Notification) =>
        run('osascript', [
          '-e',
          'on run argv',
          '-e',
          'display notification (item 2 of argv) with title (item 1 of argv)',
          '-e',
          'end run',
          n.title,
          n.body,
        ]),
    };
  }
  if (platform === 'win32') return null;
  return {
    notify: (n: Notification) =>
      run('notify-send', ['--app-name=bulkmailer', `--urgency=${n.urgency}`, '--icon=mail-send', '--', n.title, n.body]),
  };
}
