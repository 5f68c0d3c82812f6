/**
 * The `bulkmailer` command line: the whole command surface in one place,
 * each command's body in src/cli/commands/<name>.ts, imported only when
 * that command runs (start-up stays small for the commands cron and mail
 * clients call often).
 *
 * Usage errors exit 64; every other error goes through run-command.ts.
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { SHELLS } from './shells.js';
import { createContext, type CommandContext } from './context.js';
import { runCommand } from './run-command.js';
import { ExitCode } from '../errors.js';
import { packageVersion } from '../version.js';
import { EXIT_CODES, describeExitCodes, summarizeExitCodes } from '../exit-codes.js';
import { describeConfigKeys } from './format/config-keys.js';
import { PRESET_NAMES } from '../config/presets.js';
import { personaCalledAs } from '../frontends/sendmail/persona.js';

type Loader = () => Promise<{ default: (ctx: CommandContext, ...args: any[]) => Promise<number | void> }>;

function action(load: Loader) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals() as { home?: string };
    await runCommand(async () => {
      const ctx = createContext(globals.home);
      const module = await load();
      // commander passes (...positionals, options, command); drop the command.
      return module.default(ctx, ...args.slice(0, -1));
    });
  };
}

export function buildProgram(): Command {
  const program = new Command('bulkmailer')
    .description('A durable outbound mail spool for machines that are not always online.')
    .version(packageVersion(), '-V, --version')
    .option('--home <dir>', 'bulkmailer home (config and spool); default $BULKMAILER_HOME or the user data dir')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('enqueue')
    .description('queue one RFC 5322 message from stdin (or --file PATH) for the given recipients')
    .argument('[recipients...]', 'envelope recipients')
    .option('-f, --from <sender>', 'envelope sender (default: config "from")')
    .option('-t, --read-recipients', 'also take recipients from To/Cc/Bcc, and remove Bcc')
    .option('--file <path>', 'read the message from this file instead of stdin')
    .action(action(() => import('./commands/enqueue.js')));

  program
    .command('flush')
    .description('deliver everything due, once, and exit (for cron)')
    .option('-q, --quiet', 'print nothing but errors')
    .option('-v, --verbose', 'print every transaction')
    .action(action(() => import('./commands/flush.js')));

  program
    .command('status')
    .description('list the queue: a row per entry with its progress, totals, the last probe')
    .option('--json', 'one JSON array of entries')
    .action(action(() => import('./commands/status.js')));

  program
    .command('mailq')
    .description("list the queue in Postfix's mailq format (as sendmail -bp), a line per recipient still to deliver")
    .option('--json', 'the JSON array of `status --json`')
    .action(action(() => import('./commands/mailq.js')));

  program
    .command('show')
    .description('one entry: headers summary and every recipient')
    .argument('<id>', 'queue id (or a unique prefix)')
    .option('--json', 'JSON output')
    .action(action(() => import('./commands/show.js')));

  program
    .command('retry')
    .description('make deferred recipients due now')
    .argument('[ids...]', 'queue ids')
    .option('--all', 'every entry')
    .action(action(() => import('./commands/retry.js')));

  program
    .command('hold')
    .description('keep entries from being delivered until released')
    .argument('<ids...>', 'queue ids')
    .action(action(() => import('./commands/hold.js')));

  program
    .command('release')
    .description('release held entries')
    .argument('<ids...>', 'queue ids')
    .action(action(() => import('./commands/release.js')));

  program
    .command('delete')
    .description('remove entries from the queue (asks first on a terminal)')
    .argument('<ids...>', 'queue ids')
    .option('-y, --yes', 'do not ask')
    .action(action(() => import('./commands/delete.js')));

  program
    .command('log')
    .description('final delivery outcomes')
    .option('--since <duration>', 'only the last DURATION (e.g. 2h, 3d)')
    .option('--json', 'JSON lines')
    .action(action(() => import('./commands/log.js')));

  const account = program
    .command('account')
    .description('sending accounts chosen by envelope sender (exact address, then @domain, then the default account); OAuth2 login');
  account
    .command('add')
    .description('add an account: its smarthost (or a provider preset) and the senders that use it')
    .argument('<name>', 'account name: lower-case letters, digits, - and _')
    .option('--smarthost <url>', 'smtp://[user@]host[:port] (STARTTLS) or smtps://... (TLS from the start)')
    .option('--senders <list>', 'comma-separated addresses and @domains whose mail goes through it')
    .addOption(new Option('--preset <provider>', 'fill host, port, TLS, auth method and published limits').choices([...PRESET_NAMES]))
    .option('--user <name>', 'user name for AUTH (default: the one in the URL)')
    .action(action(async () => ({ default: (await import('./commands/account.js')).accountAdd })));
  account
    .command('list')
    .description('every account: smarthost, senders, limits, queued entries, holds')
    .option('--json', 'a JSON array')
    .action(action(async () => ({ default: (await import('./commands/account.js')).accountList })));
  account
    .command('show')
    .description("one account's settings, hold, learnt recipients per transaction and preset sources (secrets hidden)")
    .argument('<name>')
    .option('--json', 'JSON output')
    .action(action(async () => ({ default: (await import('./commands/account.js')).accountShow })));
  account
    .command('remove')
    .description('remove an account (refused while mail is queued for it, unless --force)')
    .argument('<name>')
    .option('--force', 'remove even with mail queued: it goes out through the default account')
    .action(action(async () => ({ default: (await import('./commands/account.js')).accountRemove })));

  const config = program
    .command('config')
    .description('read and change config.json')
    .addHelpText('after', () => `\nKeys (\`config keys --json\` for scripts):\n${describeConfigKeys()}\n`);
  config
    .command('get')
    .description("print a key's value (secrets hidden)")
    .argument('<key>')
    .addHelpText('after', () => `\nKeys:\n${describeConfigKeys()}\n`)
    .action(action(async () => ({ default: (await import('./commands/config.js')).configGet })));
  config
    .command('set')
    .description("check a value against the key and write it")
    .argument('<key>')
    .addHelpText('after', () => `\nKeys:\n${describeConfigKeys()}\n`)
    .argument('<value>')
    .action(action(async () => ({ default: (await import('./commands/config.js')).configSet })));
  config
    .command('unset')
    .description("remove a key: its default applies again")
    .argument('<key>')
    .addHelpText('after', () => `\nKeys:\n${describeConfigKeys()}\n`)
    .action(action(async () => ({ default: (await import('./commands/config.js')).configUnset })));
  config
    .command('list')
    .description("every key with its value (--json for scripts)")
    .option('--json', 'JSON output')
    .action(action(async () => ({ default: (await import('./commands/config.js')).configList })));
  config
    .command('keys')
    .description('every key with its type, default and meaning')
    .option('--json', 'JSON output')
    .action(action(async () => ({ default: (await import('./commands/config.js')).configKeys })));
  config.command('path').description('print where config.json is').action(action(async () => ({ default: (await import('./commands/config.js')).configPathCommand })));

  account
    .command('login')
    .description('obtain and store an OAuth2 refresh token for an account with auth.method oauth2 ("default": the top-level account)')
    .argument('<name>', 'account name ("default" for the top-level smarthost)')
    .addOption(new Option('--flow <flow>', 'device: enter a code on any browser; loopback: a browser on this machine (default: per provider)').choices(['device', 'loopback']))
    .option('--no-browser', 'loopback flow: print the address, do not open a browser')
    .action(action(() => import('./commands/account-login.js')));

  program
    .command('probe')
    .description('check connectivity: network, internet, every account and its smarthosts')
    .option('--json', 'JSON output')
    .action(action(() => import('./commands/probe.js')));

  program
    .command('agent')
    .description('run in the foreground: flush on schedule and whenever connectivity returns')
    .option('--json', "also write the agent's events to stdout, one JSON object per line")
    .option('--syslog', 'also log to syslog/journald (config agent.syslog; socket agent.syslogSocket)')
    .action(action(() => import('./commands/agent.js')));

  program
    .command('autostart')
    .description('start the agent at login (systemd, launchd, xdg) or flush from cron')
    .addArgument(new Command().createArgument('<action>', 'install, uninstall or status').choices(['install', 'uninstall', 'status']))
    .addOption(new Option('--kind <kind>', 'what to install').choices(['systemd', 'launchd', 'xdg', 'cron']))
    .option('--every <minutes>', 'cron kind only: flush every N minutes (default 5)')
    .option('--json', 'JSON output')
    .action(action(() => import('./commands/autostart.js')));

  program
    .command('listen')
    .description('accept mail over SMTP on a local port (for Mailman and other list software)')
    .option('--host <addr>', 'address to bind (default: config listener.host, 127.0.0.1)')
    .option('--port <n>', 'port (0 picks a free one and prints it)')
    .option('--socket <path>', 'listen on a unix socket instead, created 0600 (file permissions are the access control)')
    .action(action(() => import('./commands/listen.js')));

  program
    .command('sendmail')
    .description('the sendmail-compatible interface (see bulkmailer-sendmail)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]')
    .action(async (args: string[]) => {
      const { sendmailMain } = await import('../frontends/sendmail/main.js');
      process.exitCode = await sendmailMain(args, program.opts<{ home?: string }>().home);
    });

  program
    .command('sendmail-snapshot')
    .description("build the sendmail command's start-up snapshot for this Node in ~/.cache/bulkmailer (installs without one)")
    .action(action(() => import('./commands/sendmail-snapshot.js')));

  program
    .command('doctor')
    .description('check config, spool, smarthost, TLS and auth; suggest fixes')
    .option('--json', 'JSON output')
    .action(action(() => import('./commands/doctor.js')));

  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish (e.g. source <(bulkmailer completion bash))')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action(action(() => import('./commands/completion.js')));

  program
    .command('demo')
    .description('show the whole idea on this machine alone (temporary home, local smarthost)')
    .option('--recipients <n>', 'list members in the demo post', '300')
    .action(action(() => import('./commands/demo.js')));

  addExitCodeHelp(program);
  return program;
}

/** The exit codes (src/exit-codes.ts) at the end of every --help. */
function addExitCodeHelp(program: Command): void {
  program.addHelpText('after', () => `\nExit codes (sysexits(3)):\n${summarizeExitCodes()}\n`);
  for (const command of program.commands) {
    if (EXIT_CODES[command.name()] === undefined) continue;
    const text = () => `\nExit codes:\n${describeExitCodes(command.name())}\n`;
    command.addHelpText('after', text);
    for (const sub of command.commands) sub.addHelpText('after', text);
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  // Called through a symlink named sendmail or mailq: the sendmail interface (argv[0], as MTAs do).
  const persona = personaCalledAs(argv[1]);
  if (persona !== null) {
    const { sendmailMain } = await import('../frontends/sendmail/main.js');
    process.exitCode = await sendmailMain(argv.slice(2), undefined, persona);
    return;
  }
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exitCode = ok ? ExitCode.ok : ExitCode.usage;
      return;
    }
    throw err;
  }
}
