/**
 * The one place where errors become exit codes and messages on stderr, for
 * every program (bulkmailer's commands and bulkmailer-sendmail): beside
 * errors.ts, so a front end needs nothing from src/cli to report.
 *
 * A BulkmailerError prints its message and yields its sysexits code; any
 * other error is a bug: it prints the stack and yields 70 (EX_SOFTWARE).
 */
import { BulkmailerError, ExitCode } from './errors.js';

export function reportError(err: unknown, program = 'bulkmailer', stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof BulkmailerError) {
    stderr.write(`${program}: ${err.message}\n`);
    return err.exitCode;
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  stderr.write(`${program}: internal error: ${text}\n`);
  return ExitCode.software;
}
