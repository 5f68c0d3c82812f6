/**
 * The cron kind: one crontab line that runs `bulkmailer flush --quiet`
 * every N minutes (the intermittently running mode, no agent), tagged with
 * a trailing "# bulkmailer-autostart" comment (the shell ignores it) so
 * uninstall removes exactly our lines and install replaces them rather than
 * adding more. With listener.enabled a second line, `@reboot ... agent`,
 * starts the agent (which runs the SMTP listener) at boot: a flush alone
 * never listens. The agent logs to its own agent.log, so the line sends
 * its output to /dev/null and cron mails nobody. Every other line of the user's crontab is kept byte for
 * byte. Read with `crontab -l`, written with `crontab -` ($BULKMAILER_CRONTAB
 * names another program, for tests).
 *
 * Fails: E_NO_CRONTAB (69) when crontab is not installed; E_CRONTAB (75)
 * when it cannot be read or written (nothing is changed then).
 */
import { BulkmailerError, ExitCode } from '../errors.js';
import {
  MARKER,
  agentArgv,
  flushArgv,
  homeFromArgv,
  type AutostartEnv,
  type AutostartKindModule,
  type InstallReport,
  type KindStatus,
  type UninstallReport,
} from './common.js';
import { runTool } from './run-tool.js';
import { plural } from '../text.js';

const TAG = `# ${MARKER}`;

/** Single quotes for /bin/sh; cron itself turns an unescaped % into a newline. */
export function quoteCronWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`.replace(/%/g, '\\%');
}

export function parseCronCommand(command: string): string[] {
  const words: string[] = [];
  const re = /'((?:[^']|'\\'')*)'|(\S+)/g;
  const text = command.replace(/\\%/g, '%');
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[2] === '#') break;
    words.push(m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!);
  }
  return words;
}

export function renderCronLine(env: AutostartEnv): string {
  const n = env.everyMinutes;
  const minute = n === 1 ? '*' : `*/${n}`;
  return `${minute} * * * * ${flushArgv(env).map(quoteCronWord).join(' ')} ${TAG}`;
}

/** The agent at boot, for the listener (see the header). */
export function renderRebootLine(env: AutostartEnv): string {
  return `@reboot ${agentArgv(env).map(quoteCronWord).join(' ')} >/dev/null 2>&1 ${TAG}`;
}

/** Our lines for this environment: the flush, and the agent at boot when the listener is on. */
export function renderCronLines(env: AutostartEnv): string[] {
  return env.listener ? [renderCronLine(env), renderRebootLine(env)] : [renderCronLine(env)];
}

export function isOurLine(line: string): boolean {
  return line.trimEnd().endsWith(TAG);
}

/** The crontab with our lines removed and `ours` appended. */
export function editCrontab(current: string, ours: readonly string[]): string {
  const lines = current === '' ? [] : current.replace(/\n$/, '').split('\n');
  const kept = lines.filter((l) => !isOurLine(l));
  kept.push(...ours);
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}

async function readCrontab(env: AutostartEnv): Promise<string> {
  // LC_ALL=C: the "no crontab for <user>" message below is matched in English.
  const r = await runTool('crontab', ['-l'], { ...env.env, LC_ALL: 'C' });
  if (r.code === null) {
    throw new BulkmailerError('E_NO_CRONTAB', 'crontab is not installed (install cron, or use --kind systemd/xdg)', {
      exitCode: ExitCode.unavailable,
    });
  }
  if (r.code === 0) return r.stdout;
  // "no crontab for <user>": an empty crontab, not an error.
  if (/no crontab/i.test(r.stderr)) return '';
  throw new BulkmailerError('E_CRONTAB', `cannot read the crontab: ${r.stderr.trim() || `exit ${r.code}`}`, {
    exitCode: ExitCode.tempFail,
  });
}

async function writeCrontab(env: AutostartEnv, content: string, ran: string[]): Promise<void> {
  const r = await runTool('crontab', ['-'], env.env, content);
  ran.push(r.summary);
  if (r.code !== 0) {
    throw new BulkmailerError('E_CRONTAB', `cannot write the crontab: ${r.stderr.trim() || `exit ${r.code}`}`, {
      exitCode: ExitCode.tempFail,
    });
  }
}

export const cronKind: AutostartKindModule = {
  async install(env): Promise<InstallReport> {
    if (!Number.isInteger(env.everyMinutes) || env.everyMinutes < 1 || env.everyMinutes > 59) {
      throw new BulkmailerError('E_USAGE', `--every must be a whole number of minutes from 1 to 59, not ${env.everyMinutes}`, {
        exitCode: ExitCode.usage,
      });
    }
    const current = await readCrontab(env);
    const existing = current.split('\n').filter(isOurLine);
    const next = editCrontab(current, renderCronLines(env));
    const ran: string[] = [];
    let change: InstallReport['change'] = 'unchanged';
    if (next !== current) {
      await writeCrontab(env, next, ran);
      change = existing.length === 0 ? 'installed' : 'updated';
    }
    const todo = env.listener
      ? [`the SMTP listener runs in the agent, which cron starts at boot (@reboot); to start it now: ${agentArgv(env).map(quoteCronWord).join(' ')} >/dev/null 2>&1 &`]
      : [];
    return { kind: 'cron', target: 'crontab', change, ran, todo };
  },

  async uninstall(env): Promise<UninstallReport> {
    const current = await readCrontab(env);
    const next = editCrontab(current, []);
    const ran: string[] = [];
    const removed = next !== current;
    if (removed) await writeCrontab(env, next, ran);
    return { kind: 'cron', target: 'crontab', removed, ran, todo: [] };
  },

  async status(env): Promise<KindStatus> {
    let current: string;
    try {
      current = await readCrontab(env);
    } catch (err) {
      return { kind: 'cron', target: 'crontab', installed: false, home: null, details: [(err as Error).message] };
    }
    const ours = current.split('\n').filter(isOurLine);
    const line = ours.find((l) => !l.trimStart().startsWith('@reboot'));
    if (line === undefined) return { kind: 'cron', target: 'crontab', installed: false, home: null, details: [] };
    const atBoot = ours.some((l) => l.trimStart().startsWith('@reboot'));
    const fields = line.trim().split(/\s+/);
    const every = fields[0] === '*' ? 1 : Number((fields[0] ?? '').replace('*/', ''));
    const command = line.replace(/^\s*(?:\S+\s+){5}/, '');
    return {
      kind: 'cron',
      target: 'crontab',
      installed: true,
      home: homeFromArgv(parseCronCommand(command)),
      details: [`flush every ${plural(every, 'minute')}`, ...(atBoot ? ['agent at boot (for the listener)'] : [])],
    };
  },
};
