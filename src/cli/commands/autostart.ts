/**
 * `bulkmailer autostart install|uninstall|status [--kind K] [--every N] [--json]`:
 * run the agent at login (systemd, launchd, xdg) or flush from cron, for
 * the --home of this command. Without --kind: install picks the platform's
 * kind, uninstall removes every kind that is installed, status shows all.
 *
 * Exit codes: 0 done; 64 bad --every; 69 crontab missing; 73 a file of ours'
 * name exists but is the user's (E_FOREIGN); 75 crontab could not be written.
 */
import { usageError } from '../../errors.js';
import {
  AUTOSTART_KINDS,
  KIND_MODULES,
  agentArgv,
  detectKind,
  flushArgv,
  makeAutostartEnv,
  type AutostartKind,
  type KindStatus,
} from '../../autostart/index.js';
import { currentFlusher } from '../../agent/agent-presence.js';
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

export default async function autostart(ctx: CommandContext, action: string, options: AutostartOptions): Promise<number> {
  const env = makeAutostartEnv(ctx.home, { env: ctx.env, everyMinutes: parseEvery(options.every) });
  const out = (line: string) => ctx.stdout.write(`${line}\n`);

  switch (action) {
    case 'install': {
      const kind = options.kind ?? detectKind(env);
      const report = await KIND_MODULES[kind].install(env);
      if (options.json) {
        out(JSON.stringify(report, null, 2));
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
