/**
 * `bulkmailer probe [--json]`: what each connectivity check sees, with
 * timings: interfaces, internet (or why it is skipped), then every account
 * (the default first, as flush, doctor and status see them) with one line
 * saying whether it can send now and one line per smarthost; direct (MX)
 * delivery when routes use it, by doctor's own checks (src/doctor/
 * check-mx.ts: resolvers, outbound port 25, EHLO name); then any account
 * paused or held by an earlier flush, with its reply.
 *
 * Exit codes (src/exit-codes.ts): 0 every account with a smarthost reached
 * one and direct delivery (if routed) can work; 75 some account reached
 * none, or a direct delivery check failed (its line says so; try again
 * later); 78 no account has a smarthost and no route sends to `mx` (after
 * printing the local checks).
 */
import { ExitCode, configError } from '../../errors.js';
import { loadRuntimeConfig } from '../../config/runtime.js';
import { writeLastProbe } from '../../connectivity/last-probe.js';
import { buildProbeReport, type AccountProbe, type ProbeReport } from '../../connectivity/probe-report.js';
import type { CommandContext } from '../context.js';
import { checkMx, mxRouted } from '../../doctor/check-mx.js';
import type { CheckResult } from '../../doctor/check.js';
import { describeHold } from '../../flush/flush-summary.js';
import { listAccountHolds, spoolLayout } from '../../spool/index.js';
import { plural } from '../../text.js';

function accountLine(a: AccountProbe, width: number): string {
  const name = a.account.padEnd(width);
  if (a.smarthosts.length === 0) return `account     ${name}  no smarthost`;
  if (a.reachable !== null) return `account     ${name}  reachable  ${a.reachable}`;
  return `account     ${name}  unreachable  none of ${plural(a.smarthosts.length, 'smarthost')} answered`;
}

/** Direct delivery's checks, one line each (`mx`), with the fix under a failure or warning. */
function mxLines(checks: readonly CheckResult[]): string[] {
  return checks.flatMap((c) => [`mx          ${c.status}  ${c.title}: ${c.detail}`, ...(c.fix !== null ? [`            ${c.fix}`] : [])]);
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
  // Direct delivery beside the smarthosts, at the same time (each waits on the network).
  const [report, mx] = await Promise.all([buildProbeReport(config), mxRouted(config) ? checkMx(config) : null]);
  if (report.smarthosts.length > 0) await writeLastProbe(ctx.home, report.smarthosts);
  // Holds are recorded by flushes (a probe's greeting cannot see a refused AUTH): shown, not re-tested.
  const holds = listAccountHolds(spoolLayout(ctx.home));
  if (options.json) ctx.stdout.write(`${JSON.stringify({ ...report, mx, holds }, null, 2)}\n`);
  else ctx.stdout.write(formatReport(report) + mxLines(mx ?? []).map((l) => `${l}\n`).join('') + holds.map((h) => `${describeHold(h, Date.now())}\n`).join(''));
  if (report.smarthosts.length === 0 && mx === null) {
    throw configError('no smarthost configured; set one with: bulkmailer config set smarthost smtp://user@mail.example.net:587', 'E_NO_SMARTHOST');
  }
  // An account without a smarthost (only the default can be one, when others exist) has nothing to reach.
  const unreachable = report.accounts.filter((a) => a.smarthosts.length > 0 && a.reachable === null);
  // A warning (an EHLO name MX hosts may mark down) does not stop delivery; a failure does.
  const mxFailed = (mx ?? []).some((c) => c.status === 'fail');
  return unreachable.length === 0 && !mxFailed ? ExitCode.ok : ExitCode.tempFail;
}
