/**
 * The config as the code uses it: durations in ms, smarthost URLs parsed,
 * the retry policy as a model value, every sending account resolved
 * (src/config/accounts.ts). Built once per command from the stored config;
 * checks that JSON Schema cannot express (URL parts, backoff order, a
 * sender claimed twice) happen here and fail with exit 78.
 *
 * The top-level account fields (smarthosts, concurrency, ...) are the
 * `default` account's; code that serves one account asks resolveAccount.
 */
import os from 'node:os';
import { configError } from '../errors.js';
import type { RetryPolicy } from '../model/retry-policy.js';
import type { HoldPolicy } from '../model/account-hold.js';
import { parseDuration } from './duration.js';
import type { Smarthost } from './smarthost.js';
import type { StoredConfig } from './schema.js';
import { DEFAULT_ACCOUNT, buildSenderTable, toAccountSettings, type AccountSettings, type SenderTable } from './accounts.js';
import { loadStoredConfig } from './store.js';
import { BUILTIN_TRANSPORTS, parseRoutes, usesTransport, type RouteTable } from './routes.js';
import { loadDkimKeys, type DkimKey } from './dkim-keys.js';
import { parseResolvers, type ResolverAddress } from './resolvers.js';

export interface Timeouts {
  probeMs: number;
  connectMs: number;
  greetingMs: number;
  socketMs: number;
}

export interface RuntimeConfig {
  home: string;
  stored: StoredConfig;
  /** The smarthost first, then the fallbacks, in the order they are tried. */
  smarthosts: Smarthost[];
  from: string | null;
  heloName: string;
  concurrency: number;
  maxRecipientsPerTransaction: number;
  tlsVerify: boolean;
  tlsCa: string | null;
  retry: RetryPolicy;
  timeouts: Timeouts;
  /** How long an account paused by its provider waits (src/model/account-hold.ts). */
  holds: HoldPolicy;
  /** Extra account-reply rules, "KIND:REGEX" (src/delivery/account-replies.ts). */
  accountReplies: string[];
  /** 0: no delay warnings. */
  delayWarningMs: number;
  notifications: boolean;
  onCrash: 'resend' | 'hold';
  /** The default account's sending limits as written ("100/hour,500rcpt/day"; "": none); parsed by the flush. */
  limits: string;
  /** Which transport takes each recipient domain (routes.ts). */
  routes: RouteTable;
  mx: MxSettings;
  /** DKIM keys by sender domain, for direct delivery. */
  dkim: DkimKey[];
  /** Every account by name, `default` first (src/config/accounts.ts resolves them). */
  accounts: ReadonlyMap<string, AccountSettings>;
  /** Which account each sender chooses (accountForSender). */
  senderTable: SenderTable;
}

/** Direct delivery (transport `mx`). */
export interface MxSettings {
  /** The resolvers to ask; null: the system's, read when a flush needs them. */
  resolvers: ResolverAddress[] | null;
  port: number;
  destinationConcurrency: number;
  dnsTimeoutMs: number;
  /** Check MX certificates (mx.tls verify); otherwise STARTTLS is opportunistic (RFC 7435). */
  tlsVerify: boolean;
  /** Honour MTA-STS policies (mx.tls mta-sts, RFC 8461). */
  mtaSts: boolean;
  mtaStsPort: number;
}

export function toRuntimeConfig(home: string, stored: StoredConfig): RuntimeConfig {
  const accounts = new Map<string, AccountSettings>([[DEFAULT_ACCOUNT, toAccountSettings(DEFAULT_ACCOUNT, stored)]]);
  for (const name of Object.keys(stored.accounts).sort()) {
    if (name === DEFAULT_ACCOUNT) {
      throw configError('accounts.default: the default account is the top-level settings (config set smarthost ...)', 'E_CONFIG_ACCOUNT');
    }
    if (BUILTIN_TRANSPORTS.includes(name)) {
      throw configError(`accounts.${name}: "${name}" names a transport in routes; choose another account name`, 'E_CONFIG_ACCOUNT');
    }
    accounts.set(name, toAccountSettings(name, stored.accounts[name]!));
  }
  const senderTable = buildSenderTable(accounts.values());
  const account = accounts.get(DEFAULT_ACCOUNT)!;
  const retry: RetryPolicy = {
    backoffStartMs: parseDuration(stored.retry.backoffStart, 'retry.backoffStart'),
    backoffFactor: stored.retry.backoffFactor,
    backoffMaxMs: parseDuration(stored.retry.backoffMax, 'retry.backoffMax'),
    lifetimeMs: parseDuration(stored.retry.lifetime, 'retry.lifetime'),
  };
  if (retry.backoffMaxMs < retry.backoffStartMs) {
    throw configError('retry.backoffMax must not be shorter than retry.backoffStart');
  }
  return {
    home,
    stored,
    smarthosts: account.smarthosts,
    from: stored.from,
    heloName: stored.heloName ?? os.hostname(),
    concurrency: stored.concurrency,
    maxRecipientsPerTransaction: stored.maxRecipientsPerTransaction,
    tlsVerify: account.tlsVerify,
    tlsCa: account.tlsCa,
    retry,
    delayWarningMs: stored.delayWarning === '0' ? 0 : parseDuration(stored.delayWarning, 'delayWarning'),
    notifications: stored.notifications,
    onCrash: stored.onCrash === 'hold' ? 'hold' : 'resend',
    timeouts: {
      probeMs: parseDuration(stored.timeouts.probe, 'timeouts.probe'),
      connectMs: parseDuration(stored.timeouts.connect, 'timeouts.connect'),
      greetingMs: parseDuration(stored.timeouts.greeting, 'timeouts.greeting'),
      socketMs: parseDuration(stored.timeouts.socket, 'timeouts.socket'),
    },
    holds: account.holds,
    accountReplies: stored.accountReplies,
    limits: stored.limits,
    // A route may name an account (club.example=club): that account takes those recipients whatever the sender.
    routes: parseRoutes(stored.routes, [...BUILTIN_TRANSPORTS, ...accounts.keys()]),
    mx: {
      resolvers: stored.mx.resolvers === null ? null : parseResolvers(stored.mx.resolvers),
      port: stored.mx.port,
      destinationConcurrency: stored.mx.destinationConcurrency,
      dnsTimeoutMs: parseDuration(stored.mx.dnsTimeout, 'mx.dnsTimeout'),
      tlsVerify: stored.mx.tls === 'verify',
      mtaSts: stored.mx.tls === 'mta-sts',
      mtaStsPort: stored.mx.mtaStsPort,
    },
    dkim: loadDkimKeys(stored.dkim),
    accounts,
    senderTable,
  };
}

export function loadRuntimeConfig(home: string): RuntimeConfig {
  return toRuntimeConfig(home, loadStoredConfig(home));
}

/**
 * For the agent, which delivers whatever the routes say: a smarthost is
 * required unless every route delivers direct (`routes "*=mx"`).
 */
export function requireTransports(config: RuntimeConfig): void {
  if (usesTransport(config.routes, 'smarthost')) requireSmarthosts(config);
}

/** For commands that deliver through the smarthost: one is required. */
export function requireSmarthosts(config: RuntimeConfig): Smarthost[] {
  if (config.smarthosts.length === 0) {
    throw configError(
      'no smarthost configured; set one with: bulkmailer config set smarthost smtp://user@mail.example.net:587',
      'E_NO_SMARTHOST',
    );
  }
  return config.smarthosts;
}
