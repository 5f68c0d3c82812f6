/**
 * `bulkmailer doctor [--json]`: checks the setup end to end (src/doctor/)
 * and prints each result with a fix for whatever failed. Exit 0 when no
 * check failed (warnings allowed), 1 otherwise. `--json` prints
 * { ok, checks: [{ id, title, status, detail, fix }] }. Sends no mail.
 *
 * BULKMAILER_DOCTOR_SKIP_AUTOSTART=1 leaves out the autostart check (it
 * reads the real user's crontab and unit files; tests set it).
 */
import { ExitCode } from '../../errors.js';
import { runDoctor } from '../../doctor/run-doctor.js';
import type { CheckStatus } from '../../doctor/check.js';
import type { CommandContext } from '../context.js';
import { palette, type Palette } from '../format/color.js';
import { writeOut } from '../output.js';
import { plural } from '../../text.js';

function mark(status: CheckStatus, c: Palette): string {
  switch (status) {
    case 'pass':
      return c.green('ok  ');
    case 'warn':
      return c.yellow('warn');
    case 'fail':
      return c.red('FAIL');
    case 'skip':
      return c.dim('skip');
  }
}

export default async function doctor(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const report = await runDoctor(ctx.home, {
    env: ctx.env,
    skipAutostart: ctx.env.BULKMAILER_DOCTOR_SKIP_AUTOSTART === '1',
  });
  if (options.json) {
    await writeOut(ctx, JSON.stringify(report, null, 2) + '\n');
  } else {
    const c = palette(ctx.color);
    for (const check of report.checks) {
      await writeOut(ctx, `[${mark(check.status, c)}] ${check.title}: ${check.detail}\n`);
      if (check.fix !== null && (check.status === 'fail' || check.status === 'warn')) {
        await writeOut(ctx, `       fix: ${check.fix}\n`);
      }
    }
    const failed = report.checks.filter((k) => k.status === 'fail').length;
    const warned = report.checks.filter((k) => k.status === 'warn').length;
    await writeOut(
      ctx,
      failed === 0
        ? `all checks passed${warned > 0 ? ` (${plural(warned, 'warning')})` : ''}\n`
        : `${plural(failed, 'check')} failed\n`,
    );
  }
  return report.ok ? ExitCode.ok : ExitCode.failed;
}
