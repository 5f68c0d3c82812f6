/**
 * Turning the ids a user typed into queue ids: a full id, or a prefix that
 * matches exactly one entry. All ids are checked before any command acts,
 * so a typo in the third id changes nothing.
 *
 * Fails with E_NO_ENTRY (exit 65, "no such entry") or E_AMBIGUOUS_ID
 * (exit 64) naming the id as typed.
 */
import { BulkmailerError, ExitCode, dataError } from '../errors.js';
import { listEntryIds, readEntryState, resolveEntryId, type Spool } from '../spool/index.js';

export async function resolveEntryArg(spool: Spool, typed: string): Promise<string> {
  const id = await resolveEntryId(spool, typed);
  if (id !== null) {
    if ((await readEntryState(spool, id).catch(() => null)) !== null) return id;
    throw noSuchEntry(typed);
  }
  if (typed !== '') {
    const matches = (await listEntryIds(spool)).filter((candidate) => candidate.startsWith(typed));
    if (matches.length > 1) {
      throw new BulkmailerError(
        'E_AMBIGUOUS_ID',
        `id prefix "${typed}" matches ${matches.length} entries (${matches.slice(0, 3).join(', ')}${matches.length > 3 ? ', ...' : ''}); type more of it`,
        { exitCode: ExitCode.usage },
      );
    }
  }
  throw noSuchEntry(typed);
}

export async function resolveEntryArgs(spool: Spool, typed: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const t of typed) {
    const id = await resolveEntryArg(spool, t);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

export function noSuchEntry(typed: string): BulkmailerError {
  return dataError(`no such entry: ${typed}`, 'E_NO_ENTRY');
}
