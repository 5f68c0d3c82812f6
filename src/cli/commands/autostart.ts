/**
 * `bulkmailer autostart install|uninstall|status [--kind K] [--every N] [--json]`:
 * run the agent at login (systemd, launchd, xdg) or flush from cron, for
 * the --home of this command. Without --kind: install picks the platform's
 * kind, uninstall removes every kind that is installed, status shows all.
 *
 * Refuses (64) what cannot work: a kind of another platform (launchd on
 * Linux, systemd or xdg on macOS), --every with a kind other than cron.
 * Warns (stderr, exit 0) about what works differently than one may think:
 * with listener.enabled, cron only flushes, so it also starts the agent at
 * boot (the listener runs in the agent); another kind already installed
 * for this home (two starters: harmless, one waits, but one is enough).
 *
 * Exit codes: src/exit-codes.ts (0 done; 64 refused; 69 crontab missing; 73
 * a file of ours' name exists but is the user's (E_FOREIGN); 75 crontab
 * could not be written).
 */
import { usageError } from '../../errors.js';
import {
  AUTOSTART_KINDS,
  KIND_MODULES,
  agentArgv,
  detectKind,
  flushArgv,
  makeAutostartEnv,
  type AutostartEnv,
  type AutostartKind,
  type KindStatus,
} from '../../autostart/index.js';
import { currentFlusher } from '../../agent/agent-presence.js';
import { loadStoredConfig } from '../../config/store.js';
import type { CommandContext } from '../context.js';

interface AutostartOptions {
  kind?: AutostartKind;
  every?: string;
  json?: boolean;
}

/** For display: a word a shell would split or expand goes in single quotes. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function parseEvery(text: string | undefined): number {
  const n = Number(text ?? '5');
  if (!Number.isInteger(n) || n < 1 || n > 59) throw usageError(`--every must be a whole number of minutes from 1 to 59, not "${text}"`);
  return n;
}

/** The kinds that can run on a platform. */
function kindsOf(platform: NodeJS.Platform): AutostartKind[] {
  return platform === 'darwin' ? ['launchd', 'cron'] : ['systemd', 'xdg', 'cron'];
}

/** Refuses what cannot work (see the header); returns the kind to install. */
function chooseKind(env: AutostartEnv, options: AutostartOptions): AutostartKind {
  const kind = options.kind ?? detectKind(env);
  if (!kindsOf(env.platform).includes(kind)) {
    throw usageError(`--kind ${kind} cannot run on ${env.platform}; use ${kindsOf(env.platform).join(', ')}`);
  }
  if (options.every !== undefined && kind !== 'cron') {
    const why = options.kind ? '' : ` (this system's kind is ${kind})`;
    throw usageError(
      `--every is for --kind cron only${why}: the ${kind} kind runs the agent, which flushes on its schedule (bulkmailer config set schedule '*/10 * * * *')`,
    );
  }
  return kind;
}

/** listener.enabled of this home; false when config.json cannot be read (install then fails later, as the agent would). */
function listenerEnabled(home: string): boolean {
  try {
    return loadStoredConfig(home).listener.enabled === true;
  } catch {
    return false;
  }
}

export default async function autostart(ctx: CommandContext, action: string, options: AutostartOptions): Promise<number> {
  const env = makeAutostartEnv(ctx.home, { env: ctx.env, everyMinutes: parseEvery(options.every), listener: listenerEnabled(ctx.home) });
  const out = (line: string) => ctx.stdout.write(`${line}\n`);
  const warn = (line: string) => ctx.stderr.write(`bulkmailer: warning: ${line}\n`);

  switch (action) {
    case 'install': {
      const kind = chooseKind(env, options);
      const report = await KIND_MODULES[kind].install(env);
      const warnings: string[] = [];
      if (kind === 'cron' && env.listener) {
        warnings.push(
          `listener.enabled: a cron flush does not listen, so cron also starts the agent (and its SMTP listener) at boot; if it stops, the listener stays down until the next boot (a systemd user service or launchd restarts it)`,
        );
      }
      for (const other of kindsOf(env.platform)) {
        if (other === kind) continue;
        const status = await KIND_MODULES[other].status(env);
        if (status.installed && (status.home === null || status.home === env.home)) {
          warnings.push(`${other} is installed too: two starters for one home (harmless: one waits for the other) — remove one with bulkmailer autostart uninstall --kind ${other}`);
        }
      }
      for (const w of warnings) warn(w);
      if (options.json) {
        out(JSON.stringify({ ...report, warnings }, null, 2));
        return 0;
      }
      const verb = { installed: 'installed', updated: 'updated', unchanged: 'already installed' }[report.change];
      out(`${kind}: ${verb}: ${report.target}`);
      const argv = kind === 'cron' ? flushArgv(env) : agentArgv(env);
      out(`  runs: ${argv.map(shellWord).join(' ')}${kind === 'cron' ? ` (every ${env.everyMinutes} min)` : ''}`);
      for (const r of report.ran) out(`  ran: ${r}`);
      if (report.todo.length > 0) {
        out('  still to do:');
        for (const t of report.todo) out(`    ${t}`);
      }
      return 0;
    }
    case 'uninstall': {
      const kinds: AutostartKind[] = options.kind ? [options.kind] : [];
      if (!options.kind) {
        for (const k of AUTOSTART_KINDS) if ((await KIND_MODULES[k].status(env)).installed) kinds.push(k);
      }
      const reports = [];
      for (const k of kinds) reports.push(await KIND_MODULES[k].uninstall(env));
      if (options.json) {
        out(JSON.stringify(reports, null, 2));
        return 0;
      }
      if (reports.length === 0) out('nothing installed');
      for (const r of reports) {
        out(`${r.kind}: ${r.removed ? 'removed' : 'was not installed'}: ${r.target}`);
        for (const line of r.ran) out(`  ran: ${line}`);
        for (const t of r.todo) out(`  still to do: ${t}`);
      }
      return 0;
    }
    case 'status': {
      const kinds = options.kind ? [options.kind] : AUTOSTART_KINDS;
      const statuses: KindStatus[] = [];
      for (const k of kinds) statuses.push(await KIND_MODULES[k].status(env));
      const flusher = await currentFlusher(env.home);
      if (options.json) {
        out(JSON.stringify({ home: env.home, kinds: statuses, running: flusher }, null, 2));
        return 0;
      }
      for (const s of statuses) {
        const parts = [s.kind.padEnd(8), s.installed ? 'installed    ' : 'not installed', s.target];
        if (s.home !== null) parts.push(s.home === env.home ? `(home ${s.home})` : `(home ${s.home}, not this one: ${env.home})`);
        out([...parts, ...s.details].join('  '));
      }
      if (flusher === null) out('agent     not running');
      else if (flusher.kind === 'agent') out(`agent     running (pid ${flusher.pid}, since ${flusher.since})`);
      else out(`agent     not running; a flush is running (pid ${flusher.pid})`);
      return 0;
    }
    default:
      throw usageError(`unknown action "${action}"; use install, uninstall or status`);
  }
}
