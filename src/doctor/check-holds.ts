/**
 * Doctor: accounts paused by their provider or held until the user acts
 * (src/model/account-hold.ts), from the records in the spool: the reply,
 * when it came, when sending resumes, and what to do. A pause still in
 * force is a warning (it lifts by itself); a needs-you hold is a failure.
 * Only reads; never throws (an unreadable spool is the spool check's).
 */
import { accountFingerprint } from '../config/account-fingerprint.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { describeHold } from '../flush/flush-summary.js';
import { holdFix, isHoldActive, isProviderPause } from '../model/account-hold.js';
import { listAccountHolds, spoolLayout } from '../spool/index.js';
import { fail, pass, skip, warn, type CheckResult } from './check.js';

export function checkHolds(home: string, config: RuntimeConfig | null, now: number): CheckResult[] {
  const title = 'no account paused or held';
  let holds;
  try {
    holds = listAccountHolds(spoolLayout(home));
  } catch (err) {
    return [skip('account.hold', title, `cannot read the account holds: ${(err as Error).message}`)];
  }
  if (holds.length === 0) return [pass('account.hold', title, 'every account may send')];
  const fingerprint = config === null ? null : accountFingerprint(config.stored);
  return holds.map((hold) => {
    const detail = describeHold(hold, now);
    const accountTitle = `account ${hold.account}: not paused or held`;
    if (!isHoldActive(hold, now, fingerprint)) {
      return pass('account.hold', accountTitle, `${detail}; lifted now (time over or settings changed): the next flush tries again`);
    }
    return isProviderPause(hold.kind)
      ? warn('account.hold', accountTitle, detail, holdFix(hold.kind))
      : fail('account.hold', accountTitle, detail, holdFix(hold.kind));
  });
}
