/**
 * The one error type of bulkmailer.
 *
 * Every failure that reaches a user carries a stable string `code` (for
 * scripts and tests), a sysexits(3) `exitCode` (the sendmail command's API,
 * as in qmail and Postfix), and `temporary`: whether trying again later can
 * succeed. Only bin/ and src/cli turn these into process exit codes; library
 * code throws them and never calls process.exit.
 *
 * Delivery outcomes are not errors: a 4xx or 5xx reply is a value recorded
 * in the entry's state (see src/delivery/classify-reply.ts).
 */

/** sysexits.h codes used by bulkmailer, by name. */
export const ExitCode = {
  ok: 0,
  /** doctor: some check failed */
  failed: 1,
  usage: 64,
  dataErr: 65,
  noInput: 66,
  /** a host name that does not resolve (EX_NOHOST) */
  noHost: 68,
  unavailable: 69,
  software: 70,
  cantCreate: 73,
  ioErr: 74,
  tempFail: 75,
  /** the remote side broke the protocol, or TLS failed (EX_PROTOCOL) */
  protocol: 76,
  noPerm: 77,
  config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface BulkmailerErrorOptions {
  exitCode: ExitCode;
  temporary?: boolean;
  cause?: unknown;
}

export class BulkmailerError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  readonly temporary: boolean;

  constructor(code: string, message: string, options: BulkmailerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BulkmailerError';
    this.code = code;
    this.exitCode = options.exitCode;
    this.temporary = options.temporary ?? options.exitCode === ExitCode.tempFail;
  }
}

/* Constructors that classify a failure where it is raised (qmail's temp_ and perm_). */

export function usageError(message: string, code = 'E_USAGE'): BulkmailerError {
  return new BulkmailerError(code, message, { exitCode: ExitCode.usage });
}

export function dataError(message: string, code = 'E_DATA', cause?: unknown): BulkmailerError {
  return new BulkmailerError(code, message, { exitCode: ExitCode.dataErr, cause });
}

export function configError(message: string, code = 'E_CONFIG', cause?: unknown): BulkmailerError {
  return new BulkmailerError(code, message, { exitCode: ExitCode.config, cause });
}

export function tempError(message: string, code = 'E_TEMP', cause?: unknown): BulkmailerError {
  return new BulkmailerError(code, message, { exitCode: ExitCode.tempFail, cause });
}

/**
 * Maps a Node.js filesystem error to the right class: a full disk or quota is
 * temporary (73 is what sendmail callers expect for "can't create"), a
 * permission problem is 77, anything else an I/O error.
 */
export function fromFsError(what: string, err: unknown): BulkmailerError {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BulkmailerError('E_DISK_FULL', `${what}: disk full (${detail})`, {
        exitCode: ExitCode.cantCreate,
        temporary: true,
        cause: err,
      });
    case 'EACCES':
    case 'EPERM':
      return new BulkmailerError('E_PERMISSION', `${what}: permission denied (${detail})`, {
        exitCode: ExitCode.noPerm,
        cause: err,
      });
    case 'EROFS':
      return new BulkmailerError('E_READ_ONLY', `${what}: read-only file system (${detail})`, {
        exitCode: ExitCode.cantCreate,
        temporary: true,
        cause: err,
      });
    default:
      return new BulkmailerError('E_IO', `${what}: ${detail}`, {
        exitCode: ExitCode.cantCreate,
        temporary: true,
        cause: err,
      });
  }
}

export function isBulkmailerError(err: unknown): err is BulkmailerError {
  return err instanceof BulkmailerError;
}
