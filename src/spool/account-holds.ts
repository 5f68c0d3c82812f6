/**
 * Account holds on disk: spool/accounts/<account>.hold.json, one per held
 * account (src/model/account-hold.ts says what a hold is). Shared by every
 * process: a flush writes it, `status`, `doctor` and `probe` read it,
 * `retry --all` removes it.
 *
 * Written durably through the record store (records.ts): a hold that
 * vanished in a power cut would send the next flush straight back into the
 * provider's refusal. Removal is a plain unlink: losing a removal in a crash
 * only keeps a hold until its `until`. A file that does not parse is
 * treated as no hold (and reported by `doctor`): a hold is advice about
 * when to try, never a reason to lose or bounce mail.
 */
import fs from 'node:fs';
import { HOLD_KINDS, type AccountHold } from '../model/account-hold.js';
import { fromFsError } from '../errors.js';
import { accountHoldPath, accountsDir, learntFigurePath, oauthTokenPath, sendLedgerPath, type Spool } from './paths.js';
import { LEARNT_FIGURE_KINDS } from '../model/learnt-figure.js';
import { removeIfExists } from './durable-fs.js';
import { readJsonRecord, writeJsonRecord } from './records.js';

function validHold(value: unknown): AccountHold | null {
  const h = value as Partial<AccountHold> | null;
  if (h === null || typeof h !== 'object') return null;
  if (h.version !== 1 || typeof h.account !== 'string' || !HOLD_KINDS.includes(h.kind as never)) return null;
  if (typeof h.reply !== 'string' || typeof h.since !== 'string' || typeof h.until !== 'string') return null;
  if (Number.isNaN(Date.parse(h.since)) || Number.isNaN(Date.parse(h.until))) return null;
  return {
    version: 1,
    account: h.account,
    kind: h.kind!,
    reply: h.reply,
    rule: typeof h.rule === 'string' ? h.rule : null,
    since: h.since,
    until: h.until,
    fingerprint: typeof h.fingerprint === 'string' ? h.fingerprint : null,
  };
}

/** The account's hold, or null (none, or unreadable). */
export function readAccountHold(spool: Spool, account: string): AccountHold | null {
  return readJsonRecord(accountHoldPath(spool, account), `the hold of account ${account}`, validHold);
}

export async function writeAccountHold(spool: Spool, hold: AccountHold): Promise<void> {
  await writeJsonRecord(spool, accountHoldPath(spool, hold.account), hold, `the hold of account ${hold.account}`);
}

/** Removes the account's hold; true when there was one. */
export function clearAccountHold(spool: Spool, account: string): boolean {
  try {
    return removeIfExists(accountHoldPath(spool, account));
  } catch (err) {
    throw fromFsError(`cannot remove the hold of account ${account}`, err);
  }
}

/** Every recorded hold, by account name. */
export function listAccountHolds(spool: Spool): AccountHold[] {
  let names: string[];
  try {
    names = fs.readdirSync(accountsDir(spool));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromFsError('cannot list account holds', err);
  }
  const holds: AccountHold[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.hold.json')) continue;
    const hold = readAccountHold(spool, name.slice(0, -'.hold.json'.length));
    if (hold !== null) holds.push(hold);
  }
  return holds;
}

/** `retry --all`: lifts every hold; answers the ones lifted. */
export function clearAccountHolds(spool: Spool): AccountHold[] {
  const holds = listAccountHolds(spool);
  for (const hold of holds) clearAccountHold(spool, hold.account);
  return holds;
}

/**
 * `account remove`: forgets what the spool keeps about an account (its
 * hold, send ledger, learnt figures of every kind and OAuth2 tokens), so
 * a new account of the same name starts clean. Answers how many files went.
 */
export function forgetAccountRecords(spool: Spool, account: string): number {
  let removed = 0;
  const files = [
    accountHoldPath(spool, account),
    sendLedgerPath(spool, account),
    ...LEARNT_FIGURE_KINDS.map((kind) => learntFigurePath(spool, account, kind)),
    oauthTokenPath(spool, account),
  ];
  for (const file of files) {
    try {
      if (removeIfExists(file)) removed++;
    } catch (err) {
      throw fromFsError(`cannot remove ${file} of account ${account}`, err);
    }
  }
  return removed;
}
