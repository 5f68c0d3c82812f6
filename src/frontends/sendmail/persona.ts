/**
 * Which command the sendmail program is, by the name it was called under
 * (argv[0], through a symlink): `mailq` lists the queue (sendmail -bp), as
 * Postfix's and sendmail's mailq links do; any other name is sendmail.
 * Pure; never fails.
 */

/** The command names a sendmail-compatible program answers to through a symlink (argv[0]). */
export type SendmailPersona = 'sendmail' | 'mailq';

/** `mailq` when called through a symlink of that name, else sendmail. */
export function personaOf(scriptPath: string | undefined): SendmailPersona {
  const name = (scriptPath ?? '').split(/[\\/]/).pop() ?? '';
  return name === 'mailq' ? 'mailq' : 'sendmail';
}
