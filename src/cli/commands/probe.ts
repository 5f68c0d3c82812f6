/**
 * `bulkmailer probe [--json]`: what each connectivity check sees, with
 * timings: interfaces, internet (or why it is skipped), every smarthost;
 * then any account paused or held by an earlier flush, with its reply.
 *
 * Exit codes: 0 some smarthost answered; 75 none did (try again later);
 * 78 no smarthost configured (after printing the local checks).
 */
import { ExitCode, configError } from '../../errors.js';
import { loadRuntimeConfig } from '../../config/runtime.js';
import { writeLastProbe } from '../../connectivity/last-probe.js';
import { buildProbeReport, type ProbeReport } from '../../connectivity/probe-report.js';
import type { CommandContext } from '../context.js';
import { describeHold } from '../../flush/flush-summary.js';
import { listAccountHolds, spoolLayout } from '../../spool/index.js';

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
  for (const p of report.smarthosts) {
    const detail = p.reachable ? (p.greeting ?? '') : (p.error ?? 'unreachable');
    lines.push(`smarthost   ${p.reachable ? 'reachable' : 'unreachable'}  ${p.ms}ms  ${p.smarthost}  ${detail}`);
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
  if (config.smarthosts.length === 0) {
    throw configError('no smarthost configured; set one with: bulkmailer config set smarthost smtp://user@mail.example.net:587', 'E_NO_SMARTHOST');
  }
  return report.reachable !== null ? ExitCode.ok : ExitCode.tempFail;
}
