/**
 * Sending accounts as the code uses them. The account named `default` is
 * the top-level settings (today's smarthost, unchanged for users); every
 * `accounts.NAME` has the same settings (one declaration:
 * ACCOUNT_SETTINGS in src/config/schema.ts) plus the senders that choose
 * it and an optional provider preset (src/config/presets.ts).
 *
 * Two questions, one function each, for the flush, doctor, status and the
 * routes alike:
 *
 *   resolveAccount(config, name)    an account's runtime settings by name
 *   accountForSender(config, from)  which account an envelope sender uses:
 *                                   the exact address, then its @domain,
 *                                   then `default` (msmtp's choice by From);
 *                                   the null sender (DSNs) uses `default`
 *
 * The account is decided when mail is sent, not when it is queued (as
 * msmtp does): an account added while mail waits takes that mail at the
 * next flush, and removing one sends its queued mail the default way.
 *
 * Fails with configuration errors (exit 78) naming the key: a sender
 * claimed by two accounts, an account with no smarthost, an unknown name.
 */
import fs from 'node:fs';
import { configError } from '../errors.js';
import type { HoldPolicy } from '../model/account-hold.js';
import { parseDuration } from './duration.js';
import { parseSmarthostUrl, type Smarthost } from './smarthost.js';
import type { StoredConfig } from './schema.js';
import type { RuntimeConfig } from './runtime.js';

export const DEFAULT_ACCOUNT = 'default';

type StoredAccount = StoredConfig['accounts'][string];

/** The settings every account has, the top level included (StoredConfig is one of these). */
export type StoredAccountSettings = Omit<StoredAccount, 'senders' | 'preset'>;

export interface AccountSettings {
  name: string;
  /** As stored (after the preset), for credentials and the fingerprint. */
  stored: StoredAccountSettings;
  /** Where its keys live, for messages: "" (default) or "accounts.NAME.". */
  keyPrefix: string;
  /** The smarthost first, then the fallbacks, in the order they are tried. */
  smarthosts: Smarthost[];
  concurrency: number;
  maxRecipientsPerTransaction: number;
  tlsVerify: boolean;
  tlsCa: string | null;
  /** How long a paused account waits (src/model/account-hold.ts). */
  holds: HoldPolicy;
  /** Extra account-reply rules, "KIND:REGEX" (src/delivery/account-replies.ts). */
  accountReplies: string[];
  /** Sending limits as written ("100/hour,500rcpt/day"; "": none); parsed by the flush. */
  limits: string;
  /** Addresses and @domains that choose it (lower case); empty for `default`. */
  senders: string[];
  preset: string | null;
}

export function toAccountSettings(name: string, stored: StoredAccountSettings & Partial<StoredAccount>): AccountSettings {
  const keyPrefix = name === DEFAULT_ACCOUNT ? '' : `accounts.${name}.`;
  const smarthosts: Smarthost[] = [];
  if (stored.smarthost !== null) smarthosts.push(parseSmarthostUrl(stored.smarthost, `${keyPrefix}smarthost`));
  stored.fallbackSmarthosts.forEach((url, i) => smarthosts.push(parseSmarthostUrl(url, `${keyPrefix}fallbackSmarthosts[${i}]`)));
  if (name !== DEFAULT_ACCOUNT && smarthosts.length === 0) {
    throw configError(`account ${name} has no smarthost; set ${keyPrefix}smarthost or ${keyPrefix}preset`, 'E_CONFIG_ACCOUNT');
  }
  let tlsCa: string | null = null;
  if (stored.tls.caFile !== null) {
    try {
      tlsCa = fs.readFileSync(stored.tls.caFile, 'utf8');
    } catch (err) {
      throw configError(`${keyPrefix}tls.caFile: cannot read ${stored.tls.caFile}: ${(err as Error).message}`, 'E_CONFIG', err);
    }
  }
  return {
    name,
    stored,
    keyPrefix,
    smarthosts,
    concurrency: stored.concurrency,
    maxRecipientsPerTransaction: stored.maxRecipientsPerTransaction,
    tlsVerify: stored.tls.verify,
    tlsCa,
    holds: {
      quotaMs: parseDuration(stored.pauses.quota, `${keyPrefix}pauses.quota`),
      rateMs: parseDuration(stored.pauses.rate, `${keyPrefix}pauses.rate`),
      throttleMs: parseDuration(stored.pauses.throttle, `${keyPrefix}pauses.throttle`),
      recheckMs: parseDuration(stored.pauses.recheck, `${keyPrefix}pauses.recheck`),
    },
    accountReplies: stored.accountReplies,
    limits: stored.limits,
    senders: (stored.senders ?? []).map((s) => s.toLowerCase()),
    preset: stored.preset ?? null,
  };
}

/** Which account each sender and @domain names; built once per config. */
export interface SenderTable {
  exact: ReadonlyMap<string, string>;
  domains: ReadonlyMap<string, string>;
}

export function buildSenderTable(accounts: Iterable<AccountSettings>): SenderTable {
  const exact = new Map<string, string>();
  const domains = new Map<string, string>();
  for (const account of accounts) {
    for (const sender of account.senders) {
      const table = sender.startsWith('@') ? domains : exact;
      const key = sender.startsWith('@') ? sender.slice(1) : sender;
      const other = table.get(key);
      if (other !== undefined && other !== account.name) {
        throw configError(`sender ${sender} is claimed by accounts ${other} and ${account.name}; keep it in one`, 'E_CONFIG_ACCOUNT');
      }
      table.set(key, account.name);
    }
  }
  return { exact, domains };
}

/** The account an envelope sender uses: exact address, then its domain, then `default`. */
export function accountForSenderIn(table: SenderTable, sender: string): string {
  if (sender === '') return DEFAULT_ACCOUNT;
  const address = sender.toLowerCase();
  const exact = table.exact.get(address);
  if (exact !== undefined) return exact;
  const at = address.lastIndexOf('@');
  return (at >= 0 ? table.domains.get(address.slice(at + 1)) : undefined) ?? DEFAULT_ACCOUNT;
}

export function accountForSender(config: RuntimeConfig, sender: string): string {
  return accountForSenderIn(config.senderTable, sender);
}

/** An account's runtime settings by name; an unknown name is a config error (exit 78). */
export function resolveAccount(config: RuntimeConfig, name: string): AccountSettings {
  const account = config.accounts.get(name);
  if (account === undefined) {
    throw configError(`no account named ${name}; known: ${[...config.accounts.keys()].join(', ')}`, 'E_NO_ACCOUNT');
  }
  return account;
}

/** Every account, `default` first, then the others by name. */
export function listAccounts(config: RuntimeConfig): AccountSettings[] {
  return [...config.accounts.values()];
}
