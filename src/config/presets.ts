/**
 * Provider presets: the published SMTP settings and default sending limits
 * of the providers our users send through, in one reviewed table. An
 * account with `preset` gets the preset's values for every key it does not
 * set itself (`config set accounts.NAME.KEY` always wins), merged when the
 * config is read (src/config/store.ts), so a corrected figure here reaches
 * every account that did not override it.
 *
 * Each figure carries the page it was read from and the day (no internet
 * here: stored copies of the pages, found by search; the provider's own page
 * where one was found, else a third-party guide, as the README says).
 * Providers change these without notice (Google says so on the page), and
 * a sandbox or free-tier figure is the floor of what an account gets: raise
 * `limits` when the provider raised yours. A limit set too low only slows
 * sending; one set too high is caught by the provider's quota refusal,
 * which pauses the account (src/delivery/account-replies.ts) and loses
 * nothing.
 *
 * Security: every preset names a host on the internet, where credentials
 * go only over TLS (smtps://, or STARTTLS required by the session: see
 * src/delivery/smtp-session.ts).
 *
 * Auth method: Google and Microsoft want OAuth2 (XOAUTH2). The presets say
 * so in `authMethod`, which fills `auth.method` where the account settings
 * declare that key (src/config/schema.ts; src/config/store.ts checks), so
 * the account needs `bulkmailer account login NAME` once; `config set
 * accounts.NAME.auth.method password` turns it back to an app password.
 */
export const PRESET_NAMES = ['gmail', 'workspace', 'outlook', 'microsoft365', 'fastmail', 'ses', 'mailgun', 'postmark'] as const;

export type PresetName = (typeof PRESET_NAMES)[number];

export type AuthMethod = 'password' | 'oauth2';

/** One figure and where it comes from. */
export interface Sourced<T> {
  value: T;
  source: string;
  /** The day the source was read (YYYY-MM-DD). */
  checked: string;
}

export interface Preset {
  name: PresetName;
  title: string;
  /** Host, port and TLS mode as a smarthost URL (smtps: TLS from the first byte; smtp: STARTTLS, required with credentials). */
  smarthost: Sourced<string>;
  authMethod: Sourced<AuthMethod>;
  /** The provider's published limits in our grammar (src/model/sending-limits.ts); null: none published. */
  limits: Sourced<string> | null;
  /** Recipients per message the provider accepts; null: none published for SMTP. */
  maxRecipientsPerTransaction: Sourced<number> | null;
  /**
   * Connections the provider takes at once from one account; null: none
   * published (then the default `concurrency`). Past it, a provider refuses
   * the extra connections (Microsoft: 432 4.3.2), and the flush comes down
   * to what it took (src/model/connection-cap.ts) at the cost of one refused
   * connection; the published figure saves even that.
   */
  concurrency: Sourced<number> | null;
  /** What the user still has to do, shown by `account add` and `account show`. */
  note: string;
}

const CHECKED = '2026-11-30';

const GOOGLE_SMTP = 'https://developers.google.com/workspace/gmail/imap/imap-smtp';
const GOOGLE_WORKSPACE_LIMITS = 'https://support.google.com/a/answer/166852';
const OUTLOOK_SMTP = 'https://www.scaledmail.com/guides/smtp-settings/outlook';
const OUTLOOK_LIMITS = 'https://www.msoutlook.info/question/235';
const EXO_SMTP_AUTH = 'https://learn.microsoft.com/en-us/exchange/troubleshoot/send-emails/smtp-submission-improvements';
const EXO_LIMITS = 'https://learn.microsoft.com/office365/servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits-1';
const FASTMAIL_SMTP = 'https://xenocept.com/docs/email-setup/fastmail.html';
const SES_SMTP = 'https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html';
const SES_QUOTAS = 'https://docs.aws.amazon.com/ses/latest/dg/quotas.html';
const SES_RECIPIENTS = 'https://docs.aws.amazon.com/ses/latest/dg/send-email-smtp.html';
const MAILGUN_SMTP = 'https://smtptester.org/guides/mailgun-smtp-test/';
const MAILGUN_FREE = 'https://www.captaindns.com/it/blog/mailgun-transactional-email-technical-guide';
const POSTMARK_SMTP = 'https://postmarkapp.com/developer/user-guide/send-email-with-smtp';
const POSTMARK_RECIPIENTS = 'https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean';

const at = <T>(value: T, source: string): Sourced<T> => ({ value, source, checked: CHECKED });

export const PRESETS: Readonly<Record<PresetName, Preset>> = {
  gmail: {
    name: 'gmail',
    title: 'Gmail (personal)',
    smarthost: at('smtp://smtp.gmail.com:587', GOOGLE_SMTP),
    authMethod: at('oauth2', GOOGLE_SMTP),
    // 500 messages a day over a rolling 24 hours; 100 recipients per message sent by SMTP.
    limits: at('500/day', GOOGLE_SMTP),
    maxRecipientsPerTransaction: at(100, GOOGLE_SMTP),
    concurrency: null,
    note: 'user: your Gmail address; OAuth2: set oauth2.clientId (README: OAuth2), then `bulkmailer account login NAME`; or auth.method password with an app password',
  },
  workspace: {
    name: 'workspace',
    title: 'Google Workspace',
    smarthost: at('smtp://smtp.gmail.com:587', GOOGLE_SMTP),
    authMethod: at('oauth2', GOOGLE_SMTP),
    // Paid accounts: 2,000 messages and 10,000 recipients a day (trial accounts: 500 messages).
    limits: at('2000/day,10000rcpt/day', GOOGLE_WORKSPACE_LIMITS),
    maxRecipientsPerTransaction: at(100, GOOGLE_WORKSPACE_LIMITS),
    concurrency: null,
    note: 'user: your Workspace address; OAuth2 as for gmail; a trial account may send only 500/day (set limits)',
  },
  outlook: {
    name: 'outlook',
    title: 'Outlook.com (personal)',
    smarthost: at('smtp://smtp-mail.outlook.com:587', OUTLOOK_SMTP),
    authMethod: at('oauth2', OUTLOOK_SMTP),
    // Microsoft does not publish a figure; 300 messages a day and 100 recipients per message for an
    // established free account are the widely reported values (new accounts get less).
    limits: at('300/day', OUTLOOK_LIMITS),
    maxRecipientsPerTransaction: at(100, OUTLOOK_LIMITS),
    concurrency: null,
    note: 'user: your Outlook.com address; OAuth2: set oauth2.clientId, then `bulkmailer account login NAME`; new accounts have lower limits for their first weeks',
  },
  microsoft365: {
    name: 'microsoft365',
    title: 'Microsoft 365 / Exchange Online',
    smarthost: at('smtp://smtp.office365.com:587', EXO_LIMITS),
    authMethod: at('oauth2', EXO_LIMITS),
    // 10,000 recipients a day, 30 messages a minute (SMTP client submission), 500 recipients per message.
    limits: at('30/minute,10000rcpt/day', EXO_LIMITS),
    maxRecipientsPerTransaction: at(500, EXO_LIMITS),
    // "Up to three concurrent connections are allowed to send email messages at the same time" per mailbox.
    concurrency: at(3, EXO_SMTP_AUTH),
    note: 'user: your mailbox address; OAuth2: set oauth2.clientId, then `bulkmailer account login NAME`; the tenant must allow SMTP AUTH for the mailbox',
  },
  fastmail: {
    name: 'fastmail',
    title: 'Fastmail',
    smarthost: at('smtps://smtp.fastmail.com:465', FASTMAIL_SMTP),
    authMethod: at('password', FASTMAIL_SMTP),
    // No numeric sending limit is published.
    limits: null,
    maxRecipientsPerTransaction: null,
    concurrency: null,
    note: 'user: your Fastmail address; password: an app password (Settings > Privacy & Security)',
  },
  ses: {
    name: 'ses',
    title: 'Amazon SES',
    // The endpoint is per region: set the smarthost to your region's (email-smtp.REGION.amazonaws.com).
    smarthost: at('smtp://email-smtp.us-east-1.amazonaws.com:587', SES_SMTP),
    authMethod: at('password', SES_SMTP),
    // The sandbox quota (it counts recipients): 200 a day, 1 a second; production quotas are per account.
    limits: at('1rcpt/second,200rcpt/day', SES_QUOTAS),
    maxRecipientsPerTransaction: at(50, SES_RECIPIENTS),
    concurrency: null,
    note: 'user/password: SES SMTP credentials (not your AWS keys); smarthost: your region; out of the sandbox, set limits to your quota',
  },
  mailgun: {
    name: 'mailgun',
    title: 'Mailgun',
    smarthost: at('smtp://smtp.mailgun.org:587', MAILGUN_SMTP),
    authMethod: at('password', MAILGUN_SMTP),
    // The free plan's 100 messages a day; paid plans have no daily cap: set limits "" then.
    limits: at('100/day', MAILGUN_FREE),
    maxRecipientsPerTransaction: null,
    concurrency: null,
    note: 'user/password: the domain\'s SMTP credentials (not the API key); EU domains: smtp://smtp.eu.mailgun.org:587',
  },
  postmark: {
    name: 'postmark',
    title: 'Postmark',
    smarthost: at('smtp://smtp.postmarkapp.com:587', POSTMARK_SMTP),
    authMethod: at('password', POSTMARK_SMTP),
    // No numeric rate is published; 50 recipients per message is.
    limits: null,
    maxRecipientsPerTransaction: at(50, POSTMARK_RECIPIENTS),
    concurrency: null,
    note: 'user and password: the server API token (or an SMTP token of the message stream); transactional mail only',
  },
};

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

/**
 * The account settings a preset fills, as stored config (nested keys).
 * `withAuthMethod`: whether the account settings declare `auth.method`.
 */
export function presetSettings(preset: Preset, withAuthMethod: boolean): Record<string, unknown> {
  const settings: Record<string, unknown> = { smarthost: preset.smarthost.value };
  if (preset.limits !== null) settings.limits = preset.limits.value;
  if (preset.maxRecipientsPerTransaction !== null) settings.maxRecipientsPerTransaction = preset.maxRecipientsPerTransaction.value;
  if (preset.concurrency !== null) settings.concurrency = preset.concurrency.value;
  if (withAuthMethod) settings.auth = { method: preset.authMethod.value };
  return settings;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `below` with `above` laid over it, deeply (objects merge; anything else in `above` wins). */
function overlay(below: Record<string, unknown>, above: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...below };
  for (const [key, value] of Object.entries(above)) {
    const under = out[key];
    out[key] = isPlainObject(under) && isPlainObject(value) ? overlay(under, value) : value;
  }
  return out;
}

/**
 * The stored config (validated, before defaults) with each account's preset
 * laid under what the account sets itself. Pure; unknown preset names never
 * get here (the schema's pattern refuses them).
 */
export function withPresets<T>(stored: T, withAuthMethod: boolean): T {
  if (!isPlainObject(stored) || !isPlainObject(stored.accounts)) return stored;
  const accounts: Record<string, unknown> = {};
  for (const [name, account] of Object.entries(stored.accounts)) {
    const preset = isPlainObject(account) && typeof account.preset === 'string' && isPresetName(account.preset) ? PRESETS[account.preset] : null;
    accounts[name] = preset === null || !isPlainObject(account) ? account : overlay(presetSettings(preset, withAuthMethod), account);
  }
  return { ...stored, accounts } as T;
}
