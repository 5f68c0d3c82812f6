/**
 * Turning the ids a user typed into queue ids: a full id, or a prefix that
 * matches exactly one entry. All ids are checked before any command acts,
 * so a typo in the third id changes nothing.
 *
 * Fails with E_NO_ENTRY (exit 65, "no such entry") or E_AMBIGUOUS_ID
 * (exit 64) naming the id as typed. An entry a flush's journal records as
 * finished (delivered to its last recipient, its removal still to come:
 * src/spool/finished-entries.ts) is no entry here, as it is not in `status`.
 */
import { BulkmailerError, ExitCode, dataError } from '../errors.js';
import { isQueueId } from '../model/queue-id.js';
import { isFinishedEntry, listEntryIds, readEntryState, type Spool } from '../spool/index.js';
import { plural } from '../text.js';

/** The spool's ids, listed once per command and only if a prefix was typed. */
type IdList = () => Promise<string[]>;

function lazyIdList(spool: Spool): IdList {
  let ids: Promise<string[]> | null = null;
  return () => (ids ??= listEntryIds(spool));
}

async function resolveOne(spool: Spool, typed: string, allIds: IdList): Promise<string> {
  if (isQueueId(typed)) {
    // A state file that cannot be read or is corrupt is still an entry: the command says what is wrong with it.
    const exists = await readEntryState(spool, typed).then((state) => state !== null, () => true);
    if (exists && !isFinishedEntry(spool, typed)) return typed;
    throw noSuchEntry(typed);
  }
  const matches = typed === '' ? [] : (await allIds()).filter((candidate) => candidate.startsWith(typed));
  if (matches.length === 1) return matches[0] as string;
  if (matches.length > 1) {
    throw new BulkmailerError(
      'E_AMBIGUOUS_ID',
      `id prefix "${typed}" matches ${plural(matches.length, 'entry', 'entries')} (${matches.slice(0, 3).join(', ')}${matches.length > 3 ? ', ...' : ''}); type more of it`,
      { exitCode: ExitCode.usage },
    );
  }
  throw noSuchEntry(typed);
}

export function resolveEntryArg(spool: Spool, typed: string): Promise<string> {
  return resolveOne(spool, typed, lazyIdList(spool));
}

export async function resolveEntryArgs(spool: Spool, typed: readonly string[]): Promise<string[]> {
  const allIds = lazyIdList(spool);
  const ids: string[] = [];
  for (const t of typed) {
    const id = await resolveOne(spool, t, allIds);
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

export function noSuchEntry(typed: string): BulkmailerError {
  return dataError(`no such entry: ${typed}`, 'E_NO_ENTRY');
}
