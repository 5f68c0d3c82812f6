/**
 * Which command the sendmail program is, by the name it was called under
 * (argv[1], `$0`: the last part of its path, through a symlink): `mailq`
 * lists the queue (sendmail -bp), as Postfix's and sendmail's mailq links
 * do. bin/bulkmailer is the sendmail command only under one of these two
 * names (personaCalledAs: src/cli/main.ts picks its front end by it, and
 * src/cli/long-running.ts and bin/bulkmailer's shell part, as
 * `${0##*[/]}`, look for no bulkmailer command in sendmail's arguments);
 * bin/bulkmailer-sendmail is sendmail under any name but mailq (personaOf).
 * Pure; never fails.
 */
import path from 'node:path';

/** The command names a sendmail-compatible program answers to through a symlink (argv[1]). */
export type SendmailPersona = 'sendmail' | 'mailq';

/**
 * The persona a program called as `scriptPath` takes by its name alone, or
 * null for any other name. The name is path.basename's: on Linux and macOS
 * what follows the last `/`, as the shell's `${0##*[/]}` takes it.
 */
export function personaCalledAs(scriptPath: string | undefined): SendmailPersona | null {
  const name = path.basename(scriptPath ?? '');
  return name === 'sendmail' || name === 'mailq' ? name : null;
}

/** For the sendmail program: `mailq` when called through a symlink of that name, else sendmail. */
export function personaOf(scriptPath: string | undefined): SendmailPersona {
  return personaCalledAs(scriptPath) ?? 'sendmail';
}
