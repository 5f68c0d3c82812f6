/**
 * The one place where errors become exit codes and messages on stderr.
 * A BulkmailerError prints its message and exits with its sysexits code; any
 * other error is a bug: it prints the stack and exits 70 (EX_SOFTWARE).
 */
import { BulkmailerError, ExitCode } from '../errors.js';

export function reportError(err: unknown, program = 'bulkmailer'): number {
  if (err instanceof BulkmailerError) {
    process.stderr.write(`${program}: ${err.message}\n`);
    return err.exitCode;
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`${program}: internal error: ${text}\n`);
  return ExitCode.software;
}

/** Runs a command body and sets process.exitCode (never calls process.exit mid-write). */
export async function runCommand(body: () => Promise<number | void>, program = 'bulkmailer'): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (err) {
    process.exitCode = reportError(err, program);
  }
}
