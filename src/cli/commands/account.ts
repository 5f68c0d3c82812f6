/**
 * `bulkmailer account add|list|show|remove`: sending accounts chosen by
 * envelope sender (src/config/accounts.ts). An account is config
 * (`accounts.NAME.*` in config.json, changed afterwards with `config set
 * accounts.NAME.KEY VALUE`) plus what the spool keeps about it (its hold,
 * send ledger, learnt recipients per transaction).
 *
 * Every change is checked as a reader checks config (schema, presets,
 * runtime checks: a sender claimed twice, a bad URL) before it is written;
 * nothing is written on failure (exit 78, or 64 for a misused command).
 * `remove` refuses while entries are queued whose sender uses the account
 * (exit 75) unless --force: their mail would then go the default way.
 * Secrets are never printed.
 */
import type { StoredConfig } from '../../config/schema.js';
import { explainConfigError, loadStoredConfig, openConfigStore, resolveStoredConfig } from '../../config/store.js';
import { loadRuntimeConfig, toRuntimeConfig, type RuntimeConfig } from '../../config/runtime.js';
import { DEFAULT_ACCOUNT, accountForSender, listAccounts, resolveAccount, type AccountSettings } from '../../config/accounts.js';
import { PRESETS, isPresetName, PRESET_NAMES } from '../../config/presets.js';
import { accountFingerprint } from '../../config/account-fingerprint.js';
import { BulkmailerError, ExitCode, usageError } from '../../errors.js';
import { isHoldActive } from '../../model/account-hold.js';
import { checkAccountName } from '../../model/account-name.js';
import { forgetAccountRecords, openSpool, readAccountHold, readLearntFigure, readOAuthToken, scanEntries, type Spool } from '../../spool/index.js';
import { connectionsNote, loweredFigure, recipientsNote } from '../format/learnt-figure.js';
import { plural } from '../../text.js';
import type { CommandContext } from '../context.js';
import { writeOut } from '../output.js';

interface AddOptions {
  smarthost?: string;
  senders?: string;
  preset?: string;
  user?: string;
}

function checkName(name: string): void {
  if (name === DEFAULT_ACCOUNT) {
    throw usageError('the default account is the top-level settings: change it with `bulkmailer config set smarthost ...`');
  }
  checkAccountName(name);
}

export async function accountAdd(ctx: CommandContext, name: string, options: AddOptions): Promise<number> {
  checkName(name);
  if (options.preset !== undefined && !isPresetName(options.preset)) {
    throw usageError(`unknown preset "${options.preset}"; presets: ${PRESET_NAMES.join(', ')}`);
  }
  if (options.smarthost === undefined && options.preset === undefined) {
    throw usageError('give the account a way out: --smarthost URL, or --preset with a provider');
  }
  const senders = (options.senders ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (senders.length === 0) throw usageError('which senders use it? --senders me@example.org,@example.net');
  const account: Record<string, unknown> = { senders };
  if (options.preset !== undefined) account.preset = options.preset;
  if (options.smarthost !== undefined) account.smarthost = options.smarthost;
  if (options.user !== undefined) account.auth = { user: options.user };

  const store = await openConfigStore(ctx.home);
  const candidate = structuredClone(store.store) as Record<string, unknown>;
  const accounts = { ...((candidate.accounts as Record<string, unknown> | undefined) ?? {}) };
  if (Object.hasOwn(accounts, name)) {
    throw usageError(`account ${name} exists; change it with \`bulkmailer config set accounts.${name}.KEY VALUE\`, or remove it first`);
  }
  accounts[name] = account;
  candidate.accounts = accounts;
  const config = toRuntimeConfig(ctx.home, resolveStoredConfig(ctx.home, candidate));
  try {
    store.set(`accounts.${name}`, account as never);
  } catch (err) {
    throw explainConfigError(ctx.home, err);
  }
  const added = resolveAccount(config, name);
  await writeOut(ctx, `account ${name} added: ${describeWayOut(added)}; senders ${added.senders.join(', ')}\n`);
  if (options.preset !== undefined) {
    const preset = PRESETS[options.preset as keyof typeof PRESETS];
    await writeOut(ctx, `preset ${preset.name} (${preset.title}): ${preset.note}\n`);
  }
  if (added.stored.auth.user === null && added.smarthosts[0]?.user === null) {
    await writeOut(ctx, `no user name yet: bulkmailer config set accounts.${name}.auth.user USER, and a password source (auth.passwordCommand, auth.passwordEnv or auth.pass)\n`);
  }
  return 0;
}

function describeWayOut(account: AccountSettings): string {
  if (account.smarthosts.length === 0) return 'no smarthost';
  const [first, ...rest] = account.smarthosts;
  return `smarthost ${first!.display}${rest.length > 0 ? ` (fallbacks: ${rest.map((s) => s.display).join(', ')})` : ''}`;
}

/** Queued entries per account, by their sender as the config decides it now. */
async function queuedPerAccount(spool: Spool, config: RuntimeConfig): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const state of scanEntries(spool, { checkMessage: false })) {
    const name = accountForSender(config, state.from);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

interface AccountView {
  name: string;
  smarthost: string | null;
  fallbackSmarthosts: string[];
  senders: string[];
  preset: string | null;
  user: string | null;
  limits: string;
  concurrency: number;
  /** Learnt from a refused connection (421, 432 4.3.2), when lower than the setting. */
  learntConcurrency: number | null;
  /** The refusal that taught it: the reply and when; null when the setting stands. */
  concurrencyRefusal: { reply: string; learnedAt: string } | null;
  maxRecipientsPerTransaction: number;
  /** Learnt from a "452 too many recipients", when lower than the setting. */
  learntRecipientsPerTransaction: number | null;
  hold: { kind: string; reply: string; until: string } | null;
  queued: number;
  /** password, or oauth2 (XOAUTH2) with when `account login` stored its token (null: never, or logged out). */
  auth: { method: string; loggedInAt: string | null };
}

function viewOf(spool: Spool, account: AccountSettings, queued: number, now: number): AccountView {
  const hold = readAccountHold(spool, account.name);
  const recipients = loweredFigure('recipients', account.maxRecipientsPerTransaction, readLearntFigure(spool, account.name, 'recipients'), now);
  const connections = loweredFigure('connections', account.concurrency, readLearntFigure(spool, account.name, 'connections'), now);
  return {
    name: account.name,
    smarthost: account.smarthosts[0]?.display ?? null,
    fallbackSmarthosts: account.smarthosts.slice(1).map((s) => s.display),
    senders: account.senders,
    preset: account.preset,
    user: account.stored.auth.user ?? account.smarthosts[0]?.user ?? null,
    limits: account.limits,
    concurrency: account.concurrency,
    learntConcurrency: connections?.figure ?? null,
    concurrencyRefusal: connections?.refusal ?? null,
    maxRecipientsPerTransaction: account.maxRecipientsPerTransaction,
    learntRecipientsPerTransaction: recipients?.figure ?? null,
    hold: hold !== null && isHoldActive(hold, now, accountFingerprint(account.stored)) ? { kind: hold.kind, reply: hold.reply, until: hold.until } : null,
    queued,
    auth: {
      method: account.stored.auth.method,
      loggedInAt: account.stored.auth.method === 'oauth2' ? (readOAuthToken(spool, account.name)?.loggedInAt ?? null) : null,
    },
  };
}

function describeAuth(view: AccountView): string {
  if (view.auth.method !== 'oauth2') return 'password';
  return view.auth.loggedInAt === null
    ? `oauth2 (XOAUTH2), not logged in: run \`bulkmailer account login ${view.name}\``
    : `oauth2 (XOAUTH2), logged in ${view.auth.loggedInAt} (token stored private)`;
}

export async function accountList(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const config = loadRuntimeConfig(ctx.home);
  const spool = await openSpool(ctx.home);
  const queued = await queuedPerAccount(spool, config);
  const views = listAccounts(config).map((a) => viewOf(spool, a, queued.get(a.name) ?? 0, Date.now()));
  if (options.json) {
    await writeOut(ctx, `${JSON.stringify(views, null, 2)}\n`);
    return 0;
  }
  for (const v of views) {
    const senders = v.name === DEFAULT_ACCOUNT ? 'every other sender' : v.senders.join(', ');
    const extra = [
      v.preset === null ? null : `preset ${v.preset}`,
      v.limits === '' ? null : `limits ${v.limits}`,
      v.queued === 0 ? null : `${plural(v.queued, 'entry', 'entries')} queued`,
      v.hold === null ? null : `${v.hold.kind === 'limit' ? 'held by its sending limit' : `held (${v.hold.kind})`} until ${v.hold.until}`,
    ].filter((x) => x !== null);
    await writeOut(ctx, `${v.name}  ${v.smarthost ?? '(no smarthost)'}  ${senders}${extra.length > 0 ? `  [${extra.join('; ')}]` : ''}\n`);
  }
  return 0;
}

export async function accountShow(ctx: CommandContext, name: string, options: { json?: boolean }): Promise<number> {
  const config = loadRuntimeConfig(ctx.home);
  const account = resolveAccount(config, name);
  const spool = await openSpool(ctx.home);
  const queued = await queuedPerAccount(spool, config);
  const view = viewOf(spool, account, queued.get(name) ?? 0, Date.now());
  const preset = account.preset !== null && isPresetName(account.preset) ? PRESETS[account.preset] : null;
  if (options.json) {
    const sources = preset === null ? null : {
      smarthost: preset.smarthost,
      authMethod: preset.authMethod,
      limits: preset.limits,
      maxRecipientsPerTransaction: preset.maxRecipientsPerTransaction,
      concurrency: preset.concurrency,
    };
    await writeOut(ctx, `${JSON.stringify({ ...view, presetSources: sources }, null, 2)}\n`);
    return 0;
  }
  const lines = [
    `account ${view.name}${view.name === DEFAULT_ACCOUNT ? ' (the top-level settings)' : ''}`,
    `  senders: ${view.name === DEFAULT_ACCOUNT ? 'every sender no other account claims, and bounces (DSNs)' : view.senders.join(', ')}`,
    `  smarthost: ${view.smarthost ?? '(none)'}`,
    ...(view.fallbackSmarthosts.length > 0 ? [`  fallbacks: ${view.fallbackSmarthosts.join(', ')}`] : []),
    `  user: ${view.user ?? '(none: no AUTH)'}`,
    `  auth: ${describeAuth(view)}`,
    `  limits: ${view.limits === '' ? '(none)' : view.limits}`,
    `  concurrency: ${view.concurrency}${connectionsNote(view.learntConcurrency, view.concurrencyRefusal)}`,
    `  recipients per transaction: ${view.maxRecipientsPerTransaction}${recipientsNote(view.learntRecipientsPerTransaction)}`,
    `  queued: ${plural(view.queued, 'entry', 'entries')}`,
    `  hold: ${view.hold === null ? 'none' : `${view.hold.kind} until ${view.hold.until}: ${view.hold.reply}`}`,
  ];
  if (preset !== null) {
    lines.push(`  preset: ${preset.name} (${preset.title}); ${preset.note}`);
    for (const [key, figure] of Object.entries({ smarthost: preset.smarthost, 'auth method': preset.authMethod, limits: preset.limits, 'recipients per message': preset.maxRecipientsPerTransaction, 'connections at once': preset.concurrency })) {
      if (figure !== null) lines.push(`    ${key} ${String(figure.value)}: ${figure.source} (checked ${figure.checked})`);
    }
  }
  await writeOut(ctx, `${lines.join('\n')}\n`);
  return 0;
}

export async function accountRemove(ctx: CommandContext, name: string, options: { force?: boolean }): Promise<number> {
  checkName(name);
  const stored: StoredConfig = loadStoredConfig(ctx.home);
  if (!Object.hasOwn(stored.accounts, name)) throw usageError(`no account named ${name}`);
  const config = loadRuntimeConfig(ctx.home);
  const spool = await openSpool(ctx.home);
  const queued = (await queuedPerAccount(spool, config)).get(name) ?? 0;
  if (queued > 0 && !options.force) {
    throw new BulkmailerError(
      'E_ACCOUNT_IN_USE',
      `${plural(queued, 'entry', 'entries')} queued for account ${name}; flush them first, or remove with --force and their mail goes out through the account their sender uses then (default)`,
      { exitCode: ExitCode.tempFail, temporary: true },
    );
  }
  const store = await openConfigStore(ctx.home);
  const candidate = structuredClone(store.store) as Record<string, unknown>;
  const accounts = { ...((candidate.accounts as Record<string, unknown> | undefined) ?? {}) };
  delete accounts[name];
  candidate.accounts = accounts;
  toRuntimeConfig(ctx.home, resolveStoredConfig(ctx.home, candidate));
  store.delete(`accounts.${name}` as never);
  forgetAccountRecords(spool, name);
  await writeOut(ctx, `account ${name} removed${queued > 0 ? `; ${plural(queued, 'queued entry', 'queued entries')} now go out through the default account` : ''}\n`);
  return 0;
}
