/**
 * Every exit code of every command, in one table: the source of the "Exit
 * codes" section of `bulkmailer --help`, of each command's `--help`, of
 * `bulkmailer-sendmail --help`, and of the table in docs/cli.md (a test
 * keeps the page equal to this). Exit codes are an API (sysexits(3), as
 * qmail and Postfix use them): change one here, in the code that raises
 * it, and in the docs together. Pure data; imports only the code names.
 */
import { ExitCode } from './errors.js';

export type ExitCodeRow = readonly [code: ExitCode, meaning: string];

/** What any command may exit with, besides its own codes. */
export const EVERY_COMMAND: readonly ExitCodeRow[] = [
  [ExitCode.usage, 'usage error: unknown option or command, missing or bad argument'],
  [ExitCode.software, 'internal error (a bug): the stack is printed; please report it'],
];

const SPOOL_NOT_YOURS: ExitCodeRow = [ExitCode.noPerm, 'the spool (or a directory in it) belongs to another user, or one of its directories is a symbolic link'];
const BAD_CONFIG: ExitCodeRow = [ExitCode.config, 'config.json is broken (the key at fault is named)'];
const ENTRY_CODES: readonly ExitCodeRow[] = [
  [ExitCode.usage, 'an id prefix matches several entries'],
  [ExitCode.dataErr, 'no such entry'],
  [ExitCode.tempFail, 'an entry is busy (being delivered or changed); try again'],
  SPOOL_NOT_YOURS,
];

/** Per command (as typed after `bulkmailer`; `bulkmailer-sendmail` for the sendmail command). */
export const EXIT_CODES: Readonly<Record<string, readonly ExitCodeRow[]>> = {
  enqueue: [
    [ExitCode.ok, 'queued durably (the id is printed)'],
    [ExitCode.usage, 'no recipients and no -t'],
    [ExitCode.dataErr, 'bad address, no recipient found by -t, empty or malformed message'],
    [ExitCode.noInput, '--file does not exist'],
    [ExitCode.cantCreate, 'the spool cannot take it (disk full, spool unusable); nothing half stored'],
    [ExitCode.ioErr, '--file cannot be read; or the disk failed (EIO) while queueing: nothing was queued, nothing will be sent (unless the message says it may be)'],
    SPOOL_NOT_YOURS,
    BAD_CONFIG,
  ],
  flush: [
    [ExitCode.ok, 'nothing due is left, or another flush is running (it does the work)'],
    [ExitCode.cantCreate, 'disk full: outcomes could not be recorded, delivery stopped'],
    [ExitCode.noHost, 'held: the smarthost name does not resolve while the internet answers (a misspelled host); nothing counted'],
    [ExitCode.ioErr, 'the disk failed (EIO: an fsync failed): delivery stopped after the transactions in flight, locks released; nothing lost, the next flush goes on; or, all else done, an entry was skipped because a file of it cannot be read (a directory or link in its place, EIO): it is named, the others were delivered'],
    [ExitCode.tempFail, 'something is still due: smarthost unreachable, recipients deferred, the account paused by its provider (quota, rate), stopped by a signal'],
    [ExitCode.protocol, 'held: TLS with the smarthost failed (certificate, host name, STARTTLS); nothing counted'],
    [ExitCode.noPerm, 'the smarthost refused authentication (AUTH) or the sender (MAIL FROM): mail held, nothing counted; or the spool is not yours (or a directory in it is a symbolic link); or, all else done, an entry was skipped because its file cannot be read (permission denied): it is named, the others were delivered'],
    [ExitCode.config, 'config.json is broken, or no smarthost is set'],
  ],
  status: [[ExitCode.ok, 'listed; an entry that cannot be read or is corrupt is skipped and named on the last line'], SPOOL_NOT_YOURS],
  mailq: [[ExitCode.ok, 'listed; an entry that cannot be read or is corrupt is skipped and named on stderr'], SPOOL_NOT_YOURS],
  show: [[ExitCode.ok, 'shown'], ...ENTRY_CODES.filter(([code]) => code !== ExitCode.tempFail)],
  retry: [[ExitCode.ok, 'deferred recipients are due now (--all: and every account pause or hold lifted)'], ...ENTRY_CODES],
  hold: [[ExitCode.ok, 'held'], ...ENTRY_CODES],
  release: [[ExitCode.ok, 'released'], ...ENTRY_CODES],
  delete: [
    [ExitCode.ok, 'deleted (or you answered no)'],
    [ExitCode.usage, 'not on a terminal and no --yes, or an ambiguous id prefix'],
    ...ENTRY_CODES.slice(1),
  ],
  log: [[ExitCode.ok, 'listed'], [ExitCode.usage, '--since is not a duration'], SPOOL_NOT_YOURS],
  config: [
    [ExitCode.ok, 'done'],
    [ExitCode.usage, 'unknown key'],
    [ExitCode.config, 'the value is not valid for the key (nothing written), or config.json is broken'],
  ],
  account: [
    [ExitCode.ok, 'done; login: the refresh token is stored (and a hold for refused authentication lifted)'],
    [ExitCode.usage, 'no such account, a bad name, no --smarthost nor --preset, no --senders, an existing account'],
    [ExitCode.tempFail, 'remove: entries are queued for the account (flush first, or --force); login: the code expired or no browser came back in time, or the provider\'s endpoint was unreachable; nothing stored'],
    [ExitCode.protocol, 'login: the provider answered outside the OAuth2 protocol (or issued no refresh token)'],
    [ExitCode.noPerm, 'login: refused at the provider (access_denied)'],
    [ExitCode.config, 'the account is not valid (bad URL, a sender another account has; nothing written); login: not set up for OAuth2 (auth.method, oauth2.clientId, an endpoint not https): the key is named'],
  ],
  probe: [
    [ExitCode.ok, 'every account with a smarthost reached one, and direct (MX) delivery can work when routes use it'],
    [ExitCode.tempFail, 'some account reaches none of its smarthosts, or a direct delivery check failed (its line says which)'],
    [ExitCode.config, 'config.json is broken (the key at fault is named), or no account has a smarthost and no route sends to mx'],
  ],
  agent: [
    [ExitCode.ok, 'stopped cleanly, or another agent already runs'],
    [ExitCode.cantCreate, 'the spool or the listener cannot be set up (disk, port in use)'],
    [ExitCode.noPerm, 'the spool is not yours (or a directory in it is a symbolic link), or the listener port needs privileges'],
    [ExitCode.config, 'config.json is broken (bad schedule, no smarthost...)'],
  ],
  autostart: [
    [ExitCode.ok, 'done (warnings, if any, are printed)'],
    [ExitCode.usage, 'a kind this system cannot run, or --every without --kind cron'],
    [ExitCode.unavailable, 'the tool the kind needs is missing (crontab, systemctl)'],
    [ExitCode.cantCreate, 'a file by our name exists and is not ours (E_FOREIGN): nothing overwritten'],
    [ExitCode.tempFail, 'the crontab could not be read or written'],
  ],
  listen: [
    [ExitCode.ok, 'stopped by a signal'],
    [ExitCode.cantCreate, 'cannot listen (port in use)'],
    [ExitCode.noPerm, 'cannot listen (a privileged port), or the spool is not yours (or a directory in it is a symbolic link)'],
    BAD_CONFIG,
  ],
  doctor: [
    [ExitCode.ok, 'every check passed (warnings may be printed)'],
    [ExitCode.failed, 'some check failed; each says how to fix it'],
  ],
  'sendmail-snapshot': [
    [ExitCode.ok, 'built (its path is printed)'],
    [ExitCode.unavailable, 'this install has no snapshot script (dist/bundle/sendmail/snapshot.id): run npm run build'],
    [ExitCode.software, 'Node could not build the blob, or the blob it built does not load (the reason is printed)'],
    [ExitCode.cantCreate, 'the cache directory cannot be made'],
    [ExitCode.tempFail, 'another build is running'],
    [ExitCode.noPerm, 'the cache directory may not be trusted (not yours, a link, writable by others, or a directory above it is)'],
  ],
  demo: [
    [ExitCode.ok, 'the demo ran to its end'],
    [ExitCode.tempFail, 'interrupted (Ctrl-C)'],
  ],
  completion: [[ExitCode.ok, 'the script is printed'], [ExitCode.usage, 'a shell other than bash, zsh or fish']],
  'bulkmailer-sendmail': [
    [ExitCode.ok, 'queued durably; -bp listed; -q: nothing due left (or another flush runs)'],
    [ExitCode.usage, 'unknown option, no recipients and no -t'],
    [ExitCode.dataErr, 'bad address, no recipient found by -t, empty or malformed message'],
    [ExitCode.cantCreate, 'the spool cannot take it (disk full, spool unusable); nothing half stored'],
    [ExitCode.noHost, '-q: held, the smarthost name does not resolve'],
    [ExitCode.ioErr, 'the disk failed (EIO) while queueing: nothing was queued, nothing will be sent (unless the message says it may be); -q: as flush; -bs: standard input failed (a connection reset): the session was cut, messages answered 250 are queued, the one in progress is not'],
    [ExitCode.tempFail, '-q: something is still due (or the account is paused by its provider)'],
    [ExitCode.protocol, '-q: held, TLS with the smarthost failed'],
    [ExitCode.noPerm, 'permission: the spool is not yours (or a directory in it is a symbolic link); -q: the smarthost refused AUTH or the sender (mail held)'],
    BAD_CONFIG,
  ],
};

/** "  0   meaning" lines for one command's --help. */
export function describeExitCodes(command: string): string {
  const own = EXIT_CODES[command] ?? [];
  const rows = [...own, ...EVERY_COMMAND.filter(([code]) => !own.some(([c]) => c === code))].sort((a, b) => a[0] - b[0]);
  return rows.map(([code, meaning]) => `  ${String(code).padEnd(3)} ${meaning}`).join('\n');
}

/** The summary for `bulkmailer --help`: each command and its codes. */
export function summarizeExitCodes(): string {
  const width = Math.max(...Object.keys(EXIT_CODES).map((k) => k.length));
  const lines = Object.entries(EXIT_CODES).map(([command, rows]) => `  ${command.padEnd(width)}  ${rows.map(([c]) => c).join(' ')}`);
  const every = EVERY_COMMAND.map(([c, m]) => `${c} ${m.split(':')[0]}`).join(', ');
  return `${lines.join('\n')}\n  (every command: ${every}; \`bulkmailer COMMAND --help\` says what each code means)`;
}

/** The markdown table of docs/cli.md: one row per command and code. */
export function exitCodesMarkdown(): string {
  const rows = ['| command | code | meaning |', '| --- | --- | --- |'];
  for (const [command, list] of Object.entries(EXIT_CODES)) {
    for (const [code, meaning] of list) rows.push(`| \`${command}\` | ${code} | ${meaning} |`);
  }
  for (const [code, meaning] of EVERY_COMMAND) rows.push(`| every command | ${code} | ${meaning} |`);
  return rows.join('\n');
}
