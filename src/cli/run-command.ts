/**
 * Running a command: its result or its error (through src/report-error.ts)
 * becomes process.exitCode.
 */
import { reportError } from '../report-error.js';

/** Runs a command body and sets process.exitCode (never calls process.exit mid-write). */
export async function runCommand(body: () => Promise<number | void>, program = 'bulkmailer'): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (err) {
    process.exitCode = reportError(err, program);
  }
}
