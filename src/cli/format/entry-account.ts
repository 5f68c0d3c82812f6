/**
 * Which account an entry's mail goes through, for status and show: the
 * account its sender chooses under the config as it is now (the flush
 * decides the same way, at send time: src/config/accounts.ts). Listing the
 * queue must work with a broken config too: then the account is unknown
 * (null), and the config error is for `doctor` and `flush` to report.
 */
import { accountForSender, listAccounts, resolveAccount } from '../../config/accounts.js';
import { loadRuntimeConfig } from '../../config/runtime.js';

export interface EntryAccount {
  name: string;
  /** Its smarthost (display form, no password), or null when none is set. */
  smarthost: string | null;
}

export interface AccountLookup {
  /** More than the default account is configured (listings then show the column). */
  several: boolean;
  of(from: string): EntryAccount | null;
  /** Every configured account with its concurrency setting (none when the config cannot be read); listed when asked (`show` never asks). */
  all(): { name: string; concurrency: number }[];
}

export function loadAccountLookup(home: string): AccountLookup {
  try {
    const config = loadRuntimeConfig(home);
    return {
      several: config.accounts.size > 1,
      of(from) {
        const account = resolveAccount(config, accountForSender(config, from));
        return { name: account.name, smarthost: account.smarthosts[0]?.display ?? null };
      },
      all: () => listAccounts(config).map((a) => ({ name: a.name, concurrency: a.concurrency })),
    };
  } catch {
    return { several: false, of: () => null, all: () => [] };
  }
}
