/**
 * The sendmail command line, parsed by hand (no commander: this runs once
 * per message). Values may be attached or separate (-fADDR or -f ADDR);
 * flags without a value may be bundled, as getopt allows (-ti is -t -i).
 *
 *   -f ADDR, -r ADDR   envelope sender ("<>" or "" for the null sender)
 *   -F NAME            full name for an added From
 *   -t                 recipients from To/Cc/Bcc (added to the arguments)
 *   -i, -oi            a lone dot does not end the message
 *   -v                 say what happened on stderr
 *   -bm                deliver mode (the default): read a message
 *   -bp                list the queue
 *   -bs                SMTP session on stdin/stdout
 *   -q[INTERVAL]       flush the queue now (the interval is ignored)
 *   -odq               queue only (the default); -odi / -odb: flush now too
 *   -oX... / -o X      other options: accepted, ignored
 *   --home DIR         the bulkmailer home (else $BULKMAILER_HOME, else the default)
 *   --version, --help  print the version or the usage, and exit 0
 *   -N DSN, -R RET, -B TYPE, -V ENVID, -L TAG, -h HOPS, -C FILE, -X FILE,
 *   -O OPT, -p PROTO, -e MODE, -A MODE, -U, -m, -n, -G, -s: accepted, ignored
 *
 * Anything else fails with a usage error (exit 64) naming the option.
 */
import { usageError } from '../../errors.js';

export type SendmailMode = 'deliver' | 'list' | 'flush' | 'smtp' | 'help' | 'version';
export type DeliveryMode = 'queue' | 'interactive' | 'background';

export interface SendmailArgs {
  mode: SendmailMode;
  /** -f/-r: null when not given; '' for the null sender. */
  sender: string | null;
  fullName: string | null;
  readRecipients: boolean;
  ignoreDots: boolean;
  verbose: boolean;
  deliveryMode: DeliveryMode;
  recipients: string[];
  /** Options accepted for compatibility and ignored, as given. */
  ignored: string[];
  /** --home DIR: null when not given. */
  home: string | null;
}

/** Options taking a value that we accept and ignore. */
const IGNORED_WITH_VALUE = new Set(['N', 'R', 'B', 'V', 'L', 'h', 'C', 'X', 'O', 'p', 'e', 'A']);
/** Options without a value that we accept and ignore. */
const IGNORED_FLAGS = new Set(['U', 'm', 'n', 'G', 's']);

export const SENDMAIL_SYNOPSIS = [
  'bulkmailer-sendmail [--home DIR] [-t] [-i] [-f SENDER] [-F NAME] [-v] [-odq|-odi|-odb] [RCPT ...]',
  'bulkmailer-sendmail [--home DIR] -bp | -q | -bs',
  'bulkmailer-sendmail --version | --help',
] as const;

export const SENDMAIL_DESCRIPTION =
  'Queues one message from stdin in the bulkmailer spool (see docs/frontends.md). Called as mailq (a symlink), it lists the queue as -bp does.';

/** The options, for --help and the man page (scripts/build-man.mjs): one source. */
export const SENDMAIL_OPTIONS: readonly (readonly [flags: string, meaning: string])[] = [
  ['-t', 'also take recipients from To, Cc and Bcc; Bcc is removed'],
  ['-i, -oi', 'a lone dot does not end the message'],
  ['-f ADDR, -r ADDR', 'envelope sender ("<>" for the null sender); default: config "from"'],
  ['-F NAME', 'full name for an added From header'],
  ['-v', 'say on stderr what happened'],
  ['-bm', 'read a message and queue it (the default)'],
  ['-bp', "list the queue in Postfix's mailq format"],
  ['-bs', 'an SMTP session on stdin/stdout'],
  ['-q', 'flush the queue now (an interval is ignored)'],
  ['-odq, -odi, -odb', 'queue only (default); also deliver now; or in the background'],
  ['-oX, -N, -R, ...', 'other sendmail options: accepted and ignored (docs/frontends.md lists them)'],
  ['--home DIR', 'the bulkmailer home (default $BULKMAILER_HOME, else the user data directory)'],
  ['--version', 'print the version'],
  ['--help', 'print this help'],
];

export const SENDMAIL_USAGE = [
  `usage: ${SENDMAIL_SYNOPSIS[0]}`,
  ...SENDMAIL_SYNOPSIS.slice(1).map((line) => `       ${line}`),
  SENDMAIL_DESCRIPTION,
  '',
  'Options:',
  ...SENDMAIL_OPTIONS.map(([flags, meaning]) => `  ${flags.padEnd(18)} ${meaning}`),
].join('\n');

function senderValue(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '<>') return '';
  return trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : trimmed;
}

export function parseSendmailArgs(argv: readonly string[]): SendmailArgs {
  const args: SendmailArgs = {
    mode: 'deliver',
    sender: null,
    fullName: null,
    readRecipients: false,
    ignoreDots: false,
    verbose: false,
    deliveryMode: 'queue',
    recipients: [],
    ignored: [],
    home: null,
  };
  let i = 0;
  /** The value of option `letter`: the rest of this argument, or the next one. */
  const valueOf = (arg: string, letter: string): string => {
    if (arg.length > 2) return arg.slice(2);
    const next = argv[i + 1];
    if (next === undefined) throw usageError(`option -${letter} needs a value\n${SENDMAIL_USAGE}`);
    i++;
    return next;
  };

  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      args.recipients.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '--version') {
      args.mode = arg === '--help' ? 'help' : 'version';
      continue;
    }
    if (arg === '--home' || arg.startsWith('--home=')) {
      const value = arg === '--home' ? argv[++i] : arg.slice('--home='.length);
      if (value === undefined || value === '') throw usageError(`option --home needs a directory\n${SENDMAIL_USAGE}`);
      args.home = value;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.recipients.push(arg);
      continue;
    }
    if (/^-[tivUmnGs]{2,}$/.test(arg)) {
      // Flags without a value may be bundled, as getopt allows: -ti is -t -i.
      for (const flag of arg.slice(1)) setFlag(args, flag);
      continue;
    }
    const letter = arg[1] as string;
    switch (letter) {
      case 'f':
      case 'r':
        args.sender = senderValue(valueOf(arg, letter));
        break;
      case 'F':
        args.fullName = valueOf(arg, letter);
        break;
      case 't':
      case 'i':
      case 'v':
        if (arg.length > 2) throw unknown(arg);
        setFlag(args, letter);
        break;
      case 'b': {
        const mode = valueOf(arg, letter);
        if (mode === 'm') args.mode = 'deliver';
        else if (mode === 'p') args.mode = 'list';
        else if (mode === 's') args.mode = 'smtp';
        else throw usageError(`-b${mode} is not supported (only -bm, -bp, -bs)\n${SENDMAIL_USAGE}`);
        break;
      }
      case 'q':
        // -q, -q30m, -qf...: one flush now.
        args.mode = 'flush';
        break;
      case 'o': {
        const option = valueOf(arg, letter);
        if (option === 'i') args.ignoreDots = true;
        else if (option.startsWith('d')) args.deliveryMode = deliveryModeOf(option.slice(1), args.deliveryMode);
        else args.ignored.push(`-o${option}`);
        break;
      }
      default:
        if (IGNORED_WITH_VALUE.has(letter)) args.ignored.push(`-${letter}${valueOf(arg, letter)}`);
        else if (IGNORED_FLAGS.has(letter) && arg.length === 2) args.ignored.push(arg);
        else throw unknown(arg);
    }
  }
  return args;
}

/** One option without a value: -t, -i, -v, or one accepted and ignored. */
function setFlag(args: SendmailArgs, letter: string): void {
  if (letter === 't') args.readRecipients = true;
  else if (letter === 'i') args.ignoreDots = true;
  else if (letter === 'v') args.verbose = true;
  else args.ignored.push(`-${letter}`);
}

function deliveryModeOf(value: string, current: DeliveryMode): DeliveryMode {
  switch (value) {
    case 'i':
      return 'interactive';
    case 'b':
      return 'background';
    case 'q':
    case 'd':
      return 'queue';
    default:
      return current;
  }
}

function unknown(arg: string) {
  return usageError(`unknown option ${arg}\n${SENDMAIL_USAGE}`, 'E_UNKNOWN_OPTION');
}
