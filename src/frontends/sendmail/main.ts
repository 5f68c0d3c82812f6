/**
 * The sendmail-compatible command (bin/bulkmailer-sendmail, `bulkmailer
 * sendmail`): what mutt, git send-email, cron and scripts call once per
 * message. It parses its flags by hand and imports only what the flags
 * need (no commander, no conf; the SMTP intake only for -bs, the delivery code
 * only for -q/-odi), so queueing a message costs little more than Node's
 * own start-up.
 *
 * Exit codes are its API (sysexits): 0 once the message is durable in the
 * spool; 64 usage; 65 bad address or message; 73 the spool cannot take it
 * (nothing half stored); 77 permission; 78 bad config.json. -q exits with
 * the flush's code (0 done or busy, 75 something still due).
 */
import { resolveHome } from '../../config/home.js';
import { reportError } from '../../report-error.js';
import { packageVersion } from '../../version.js';
import { describeExitCodes } from '../../exit-codes.js';
import { ExitCode } from '../../errors.js';
import { parseSendmailArgs, SENDMAIL_USAGE, type SendmailArgs } from './parse-args.js';
import { deliverMode, PROGRAM, say } from './deliver-mode.js';
import { readSendmailConfig } from './read-config.js';
import type { SendmailPersona } from './persona.js';

export { personaOf, type SendmailPersona } from './persona.js';

/** -odi: flush in the foreground; -odb: start a detached `bulkmailer flush`. The message is queued either way. */
async function flushNow(args: SendmailArgs, home: string): Promise<void> {
  if (args.deliveryMode === 'background') {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const bin = fileURLToPath(new URL('../../../bin/bulkmailer', import.meta.url));
    const child = spawn(process.execPath, [bin, '--home', home, 'flush', '--quiet'], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    say(args, `started a background flush (pid ${child.pid ?? '?'})`);
    return;
  }
  try {
    const code = await runFlush(args, home);
    say(args, `flush finished with exit code ${code}`);
  } catch (err) {
    // The message is safely queued; a failed delivery attempt is not the caller's error.
    process.stderr.write(`${PROGRAM}: queued, but the flush failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

async function runFlush(args: SendmailArgs, home: string): Promise<number> {
  const [{ flushQueue }, { summarizeFlush }] = await Promise.all([
    import('../../flush/flush.js'),
    import('../../flush/flush-summary.js'),
  ]);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    const result = await flushQueue({ home, signal: controller.signal });
    if (args.verbose || result.outcome === 'offline' || result.outcome === 'held') process.stderr.write(`${PROGRAM}: ${summarizeFlush(result)}\n`);
    return result.exitCode;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

async function listMode(home: string): Promise<number> {
  const { writeMailq } = await import('./mailq.js');
  await writeMailq(home, process.stdout, process.stderr);
  return ExitCode.ok;
}

async function smtpMode(home: string): Promise<number> {
  const config = readSendmailConfig(home);
  const { runSmtpSessionOnStdio } = await import('./stdio-smtp-server.js');
  return runSmtpSessionOnStdio(home, config);
}

/**
 * `parsed` is given the arguments as parsed (after a usage error it is not
 * called): bin/bulkmailer-sendmail decides on a snapshot build from them,
 * rather than parsing argv a second time.
 */
export async function sendmailMain(argv: string[], homeFlag?: string, persona: SendmailPersona = 'sendmail', parsed?: (args: SendmailArgs) => void): Promise<number> {
  try {
    const args = parseSendmailArgs(argv);
    // mailq is sendmail -bp (and takes sendmail's options, as Postfix's does).
    if (persona === 'mailq' && (args.mode === 'deliver' || args.mode === 'list')) args.mode = 'list';
    parsed?.(args);
    const home = resolveHome(args.home ?? homeFlag);
    switch (args.mode) {
      case 'help':
        process.stdout.write(`${SENDMAIL_USAGE}\n\nExit codes:\n${describeExitCodes('bulkmailer-sendmail')}\n`);
        return ExitCode.ok;
      case 'version':
        process.stdout.write(`bulkmailer-sendmail ${packageVersion()}\n`);
        return ExitCode.ok;
      case 'deliver':
        return await deliverMode(args, home, flushNow);
      case 'list':
        return await listMode(home);
      case 'flush':
        return await runFlush(args, home);
      case 'smtp':
        return await smtpMode(home);
    }
  } catch (err) {
    return reportError(err, PROGRAM);
  }
}
