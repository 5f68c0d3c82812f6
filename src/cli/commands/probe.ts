/**
 * `bulkmailer probe [--json]`: what each connectivity check sees, with
 * timings: interfaces, internet (or why it is skipped), then every account
 * (the default first, as flush, doctor and status see them) with one line
 * saying whether it can send now and one line per smarthost; then any
 * account paused or held by an earlier flush, with its reply.
 *
 * Exit codes (src/exit-codes.ts): 0 every account with a smarthost reached
 * one; 75 some account reached none (its line says so; try again later);
 * 78 no account has a smarthost (after printing the local checks).
 */
import { ExitCode, configError } from '../../errors.js';
import { loadRuntimeConfig } from '../../config/runtime.js';
import { writeLastProbe } from '../../connectivity/last-probe.js';
import { buildProbeReport, type AccountProbe, type ProbeReport } from '../../connectivity/probe-report.js';
import type { CommandContext } from '../context.js';
import { describeHold } from '../../flush/flush-summary.js';
import { listAccountHolds, spoolLayout } from '../../spool/index.js';
import { plural } from '../../text.js';

function accountLine(a: AccountProbe, width: number): string {
  const name = a.account.padEnd(width);
  if (a.smarthosts.length === 0) return `account     ${name}  no smarthost`;
  if (a.reachable !== null) return `account     ${name}  reachable  ${a.reachable}`;
  return `account     ${name}  unreachable  none of ${plural(a.smarthosts.length, 'smarthost')} answered`;
}

function formatReport(report: ProbeReport): string {
  const lines: string[] = [];
  const ifaces = report.interfaces;
  const list = ifaces.external.map((a) => `${a.name} ${a.address}`).join(', ');
  lines.push(`interfaces  ${ifaces.external.length > 0 ? 'up' : 'none'}  ${ifaces.ms}ms  ${list || '(loopback only)'}`);
  if (report.internet.checked) {
    const i = report.internet;
    lines.push(`internet    ${i.online ? 'online' : 'offline'}  ${i.ms}ms${i.error ? `  ${i.error}` : ''}`);
  } else {
    lines.push(`internet    skipped  (${report.internet.skipped})`);
  }
  const width = Math.max(...report.accounts.map((a) => a.account.length));
  for (const account of report.accounts) {
    lines.push(accountLine(account, width));
    for (const p of account.smarthosts) {
      const detail = p.reachable ? (p.greeting ?? '') : (p.error ?? 'unreachable');
      lines.push(`smarthost   ${p.reachable ? 'reachable' : 'unreachable'}  ${p.ms}ms  ${p.smarthost}  ${detail}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export default async function probe(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const config = loadRuntimeConfig(ctx.home);
  const report = await buildProbeReport(config);
  if (report.smarthosts.length > 0) await writeLastProbe(ctx.home, report.smarthosts);
  // Holds are recorded by flushes (a probe's greeting cannot see a refused AUTH): shown, not re-tested.
  const holds = listAccountHolds(spoolLayout(ctx.home));
  if (options.json) ctx.stdout.write(`${JSON.stringify({ ...report, holds }, null, 2)}\n`);
  else ctx.stdout.write(formatReport(report) + holds.map((h) => `${describeHold(h, Date.now())}\n`).join(''));
  if (report.smarthosts.length === 0) {
    throw configError('no smarthost configured; set one with: bulkmailer config set smarthost smtp://user@mail.example.net:587', 'E_NO_SMARTHOST');
  }
  // An account without a smarthost (only the default can be one, when others exist) has nothing to reach.
  const unreachable = report.accounts.filter((a) => a.smarthosts.length > 0 && a.reachable === null);
  return unreachable.length === 0 ? ExitCode.ok : ExitCode.tempFail;
}
