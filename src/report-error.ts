/**
 * The one place where errors become exit codes and messages on stderr, for
 * every program (bulkmailer's commands and bulkmailer-sendmail): beside
 * errors.ts, so a front end needs nothing from src/cli to report.
 *
 * A BulkmailerError prints its message and yields its sysexits code; a
 * Node.js system error (EROFS, EACCES, EIO...) is classified by fromFsError
 * and printed as one sentence; any other error is a bug: it prints the
 * stack and yields 70 (EX_SOFTWARE).
 */
import { BulkmailerError, ExitCode, describeSystemCall, fromFsError, isSystemError } from './errors.js';

export function reportError(err: unknown, program = 'bulkmailer', stderr: NodeJS.WritableStream = process.stderr): number {
  if (err instanceof BulkmailerError) {
    stderr.write(`${program}: ${err.message}\n`);
    return err.exitCode;
  }
  // A file-system (or other system) error nobody classified where it was
  // raised is still not a bug to show a stack for: a sentence and a code.
  if (isSystemError(err)) return reportError(fromFsError(describeSystemCall(err), err), program, stderr);
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  stderr.write(`${program}: internal error: ${text}\n`);
  return ExitCode.software;
}
