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
  // The errno and the file say it all; Node's message would repeat both (and a lock's record).
  const detail = typeof errno === 'string' ? errno : err instanceof Error ? err.message : String(err);
  const make = (code: string, sentence: string, exitCode: ExitCode, temporary: boolean) =>
    new BulkmailerError(code, `${what}: ${sentence} (${detail})`, { exitCode, temporary, cause: err });
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return make('E_DISK_FULL', 'disk full', ExitCode.cantCreate, true);
    case 'EACCES':
    case 'EPERM':
      return make('E_PERMISSION', 'permission denied', ExitCode.noPerm, false);
    case 'EROFS':
      return make('E_READ_ONLY', 'read-only file system', ExitCode.cantCreate, true);
    case 'EIO':
      return make('E_IO', 'input/output error (the disk or the file system failed)', ExitCode.ioErr, true);
    case 'EMFILE':
    case 'ENFILE':
      return make('E_IO', 'too many open files', ExitCode.tempFail, true);
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ELOOP':
    case 'ENOENT':
      return make('E_SPOOL_SHAPE', 'not what the spool expects there (a file, directory or link out of place)', ExitCode.ioErr, false);
    default:
      return make('E_IO', 'file system error', ExitCode.cantCreate, true);
  }
}

/** A Node.js system error (fs, net...): it has an errno code and names the failed call. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { syscall: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/** "cannot open /path": the call and the file of a system error (for symlink, the link made). */
export function describeSystemCall(err: NodeJS.ErrnoException & { syscall: string }): string {
  const target = (err as { dest?: string }).dest ?? err.path;
  return `cannot ${err.syscall}${target ? ` ${target}` : ''}`;
}

export function isBulkmailerError(err: unknown): err is BulkmailerError {
  return err instanceof BulkmailerError;
}
