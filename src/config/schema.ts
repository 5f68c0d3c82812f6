/**
 * The user's configuration, declared once: every key's type, constraints,
 * default, description and secrecy live in CONFIG_SPEC below, and
 * everything else is derived from it:
 *
 *   - the JSON Schema (`configJsonSchema`), which `conf` applies when
 *     `config set` writes and from which scripts/generate-config-validator.ts
 *     compiles the reader's validator at build time;
 *   - the TypeScript type StoredConfig (generated into
 *     src/config/generated/config-types.ts by the same script);
 *   - the defaults (DEFAULT_CONFIG) and the key list that `config
 *     get|set|unset|list|keys` and `--help` show (CONFIG_KEYS).
 *
 * Adding a key is one entry here and `npm run generate` (a test fails while
 * the generated files are stale).
 *
 * Durations are strings ("5m"); src/config/runtime.ts turns the stored form
 * into the numbers the code uses. Checks JSON Schema cannot express (URL
 * parts, backoff order, a cron expression's fields) live in runtime.ts and
 * key-checks.ts and run both when a key is set and when it is read.
 */
import { DURATION_PATTERN } from './duration.js';
import { ACCOUNT_NAME_PATTERN } from '../model/account-name.js';
import { PRESET_NAMES } from './presets.js';
import type { StoredConfig } from './generated/config-types.js';

export type { StoredConfig } from './generated/config-types.js';

/** How `config set` parses a value typed on the command line. */
export type ConfigValueType = 'string' | 'nullableString' | 'integer' | 'number' | 'boolean' | 'stringArray';

type JsonSchema = Record<string, unknown>;

export interface ConfigLeaf {
  kind: 'leaf';
  valueType: ConfigValueType;
  /** Constraints beyond the type (pattern, minimum...), as JSON Schema. */
  constraints: JsonSchema;
  default: unknown;
  description: string;
  /** Never printed by `config get/list`, logs or errors. */
  secret: boolean;
}

export interface ConfigGroup {
  kind: 'group';
  fields: Record<string, ConfigNode>;
}

/** A map of named entries of one shape: `accounts.NAME.KEY`. */
export interface ConfigMap {
  kind: 'map';
  /** What a name stands for, shown in key lists as `<name>`. */
  nameLabel: string;
  namePattern: string;
  description: string;
  value: ConfigGroup;
}

export type ConfigNode = ConfigLeaf | ConfigGroup | ConfigMap;

interface LeafOptions {
  pattern?: string;
  minimum?: number;
  maximum?: number;
  secret?: boolean;
}

function leaf(valueType: ConfigValueType, description: string, defaultValue: unknown, options: LeafOptions = {}): ConfigLeaf {
  const constraints: JsonSchema = {};
  if (options.pattern !== undefined) constraints.pattern = options.pattern;
  if (options.minimum !== undefined) constraints.minimum = options.minimum;
  if (options.maximum !== undefined) constraints.maximum = options.maximum;
  return { kind: 'leaf', valueType, constraints, default: defaultValue, description, secret: options.secret ?? false };
}

const text = (description: string, defaultValue: string, options?: LeafOptions) => leaf('string', description, defaultValue, options);
const optionalText = (description: string, options?: LeafOptions) => leaf('nullableString', description, null, options);
const integer = (description: string, defaultValue: number, minimum: number, maximum?: number) =>
  leaf('integer', description, defaultValue, { minimum, ...(maximum === undefined ? {} : { maximum }) });
const flag = (description: string, defaultValue: boolean) => leaf('boolean', description, defaultValue);
const textList = (description: string, options?: LeafOptions) => leaf('stringArray', description, [], options);
const duration = (description: string, defaultValue: string) =>
  leaf('string', description, defaultValue, { pattern: DURATION_PATTERN });
const group = (fields: Record<string, ConfigNode>): ConfigGroup => ({ kind: 'group', fields });

const SMARTHOST_URL = '^smtps?://[^\\s]+$';
// https only, except http on loopback (src/oauth2/settings.ts checks the host).
const OAUTH2_URL = '^https?://[^\\s]+$';

/**
 * The settings of one sending account, declared once: they are the top
 * level of config.json (the account named `default`, unchanged for users)
 * and the value of each `accounts.NAME` (src/config/accounts.ts resolves an
 * account by name). A key added here exists for every account at once
 * (TEAM.md: the oauth2 group and auth.method belong here too).
 */
export const ACCOUNT_SETTINGS: Record<string, ConfigNode> = {
  smarthost: optionalText('smtp://[user[:pass]@]host[:port] (STARTTLS when offered) or smtps://... (TLS from the start)', {
    pattern: SMARTHOST_URL,
  }),
  fallbackSmarthosts: textList('smarthost URLs tried in order when the smarthost is unreachable', { pattern: SMARTHOST_URL }),
  // 20 as Postfix's default_destination_concurrency_limit; a provider that takes fewer refuses one more and the figure comes down (src/model/connection-cap.ts).
  concurrency: integer('parallel SMTP connections to the smarthost (fewer once it refuses one more: learnt, see account show)', 20, 1, 100),
  maxRecipientsPerTransaction: integer('recipients per SMTP transaction (RFC 5321 servers take at least 100)', 100, 1, 10_000),
  tls: group({
    verify: flag('verify the smarthost\'s certificate (turning this off is logged)', true),
    caFile: optionalText('extra CA certificate(s) in PEM, for a private smarthost'),
  }),
  auth: group({
    method: text(
      'password (AUTH with the password sources below) or oauth2 (XOAUTH2 with tokens from `bulkmailer account login`; Gmail, Microsoft)',
      'password',
      { pattern: '^(password|oauth2)$' },
    ),
    user: optionalText('user name for AUTH (default: the one in the smarthost URL)'),
    pass: optionalText('password for AUTH (prefer passwordCommand or passwordEnv)', { secret: true }),
    passwordEnv: optionalText('name of an environment variable holding the password'),
    passwordCommand: optionalText('shell command whose first output line is the password (msmtp\'s passwordeval)'),
  }),
  // OAuth2 for auth.method oauth2: the provider's row of src/oauth2/providers.ts fills what is not set here.
  oauth2: group({
    provider: optionalText('google or microsoft: its endpoints and scope (default: from the smarthost host name)', {
      pattern: '^(google|microsoft)$',
    }),
    clientId: optionalText('client id of the OAuth2 app registered with the provider (README: OAuth2)'),
    clientSecret: optionalText('client secret of that app, when the provider issued one (Google desktop apps)', { secret: true }),
    tokenUrl: optionalText('token endpoint (default: the provider\'s); https only, except on loopback', { pattern: OAUTH2_URL }),
    deviceAuthorizationUrl: optionalText('device authorization endpoint, RFC 8628 (default: the provider\'s)', { pattern: OAUTH2_URL }),
    authorizationUrl: optionalText('authorization endpoint for the loopback flow, RFC 8252 (default: the provider\'s)', { pattern: OAUTH2_URL }),
    scope: optionalText('scopes asked for, space-separated (default: the provider\'s SMTP scope)'),
  }),
  // The grammar lives once, in src/model/sending-limits.ts: `config set` checks it (key-checks.ts) and the flush parses it.
  limits: text(
    'sending limits of the account, sliding windows kept in the spool across restarts: N/unit counts messages, Nrcpt/unit recipients, unit second|minute|hour|day; e.g. "100/hour,500rcpt/day" ("": none)',
    '',
  ),
  // How long a held account waits (src/model/account-hold.ts). Gmail's and SES's daily quotas are
  // rolling 24-hour windows that free capacity gradually: an hourly look (one refused transaction,
  // nothing counted) beats a 24-hour wait. SES asks for a wait of up to 10 minutes after throttling.
  pauses: group({
    quota: duration('an account refused for its sending quota (Gmail 5.4.5, SES daily quota...) tries again after this', '1h'),
    rate: duration('an account refused for its sending rate tries again after this', '2m'),
    throttle: duration('an account told "421 try again later" tries again after this', '10m'),
    recheck: duration('an account held until you act (AUTH or sender refused, TLS failed, unknown host) is tried again by itself after this', '1h'),
  }),
  accountReplies: textList(
    'extra SMTP replies that mean "this account may not send now", tried before the built-in table: KIND:REGEX (KIND: quota, rate, throttle, auth, sender)',
    { pattern: '^(quota|rate|throttle|auth|sender):.+$' },
  ),
};

/** An entry of `senders`: an address (exact) or `@domain` (every address of that domain). */
export const SENDER_PATTERN = '^[^\\s<>@]*@[^\\s<>@]+$';

export const CONFIG_SPEC: ConfigGroup = group({
  ...ACCOUNT_SETTINGS,
  from: optionalText('default envelope sender and From: for messages that have none', { pattern: '^[^\\s<>@]+@[^\\s<>@]+$' }),
  heloName: optionalText('name sent with EHLO (default: this machine\'s host name)'),
  retry: group({
    backoffStart: duration('delay after the first deferral', '5m'),
    backoffFactor: leaf('number', 'each further deferral multiplies the delay by this', 2, { minimum: 1, maximum: 10 }),
    backoffMax: duration('the delay never grows past this', '1h'),
    lifetime: duration('retry time (not age: offline time does not count) after which a deferred recipient expires', '5d'),
  }),
  timeouts: group({
    probe: duration('connectivity probe: TCP connect plus greeting', '5s'),
    connect: duration('TCP connect to the smarthost', '15s'),
    greeting: duration('wait for the smarthost\'s 220 greeting', '15s'),
    socket: duration('inactivity during a transaction', '2m'),
  }),
  accounts: {
    kind: 'map',
    nameLabel: 'name',
    // An account's name: a file name in spool/accounts/ and a word in routes, one check for all (src/model/account-name.ts).
    namePattern: ACCOUNT_NAME_PATTERN,
    description: 'more sending accounts, chosen by envelope sender (bulkmailer account add); the top-level settings are the account "default"',
    value: group({
      ...ACCOUNT_SETTINGS,
      senders: textList('envelope senders that use this account: addresses (exact) and @domains', { pattern: SENDER_PATTERN }),
      preset: optionalText(`provider whose published settings fill what this account does not set: ${PRESET_NAMES.join(', ')}`, {
        pattern: `^(${PRESET_NAMES.join('|')})$`,
      }),
    }),
  },
  // Five or six space-separated fields (node-cron takes an optional seconds field); key-checks.ts checks the fields.
  schedule: text('node-cron expression for the agent\'s scheduled flush', '*/5 * * * *', { pattern: '^\\S+( \\S+){4,5}$' }),
  agent: group({
    syslog: flag('the agent also logs to syslog/journald (RFC 5424, through logger(1))', false),
    syslogSocket: text('the syslog socket the agent logs to (macOS: /var/run/syslog)', '/dev/log', { pattern: '^/' }),
  }),
  delayWarning: text(
    'retry time (counted like retry.lifetime) after which the sender gets one delay warning (RFC 3464, Action: delayed); 0 turns warnings off',
    '4h',
    { pattern: `^0$|${DURATION_PATTERN}` },
  ),
  notifications: flag('the agent shows desktop notifications (bounces, long delays, accounts that need attention)', true),
  onCrash: text(
    'recipients of a transaction a crash interrupted (possible duplicates): resend them, or hold their entry for review',
    'resend',
    { pattern: '^(resend|hold)$' },
  ),
  routes: text(
    'transport per recipient domain, "domain=transport,...": exact domain, then *.parent, then *; transports: smarthost (the account the sender chooses), mx (direct delivery), or an account name',
    '*=smarthost',
    { pattern: '^\\s*[^\\s=,]+\\s*=\\s*[^\\s=,]+\\s*(,\\s*[^\\s=,]+\\s*=\\s*[^\\s=,]+\\s*)*$' },
  ),
  mx: group({
    resolvers: optionalText('DNS resolvers for direct delivery, "ip[:port],..." (default: the system\'s, from /etc/resolv.conf)'),
    port: integer('port of the MX hosts (25; another only for tests and unusual networks)', 25, 1, 65_535),
    destinationConcurrency: integer('parallel connections to one destination (MX host set), within concurrency', 20, 1, 100),
    dnsTimeout: duration('wait for one DNS answer before asking the next resolver', '5s'),
    tls: text(
      'TLS to MX hosts: opportunistic (STARTTLS when offered, certificate not checked, RFC 7435), mta-sts (opportunistic, but domains publishing an MTA-STS policy in enforce mode get verified TLS to the MX hosts it names, RFC 8461) or verify (every certificate checked)',
      'opportunistic',
      { pattern: '^(opportunistic|mta-sts|verify)$' },
    ),
    mtaStsPort: integer('HTTPS port of MTA-STS policy hosts (443; another only for tests)', 443, 1, 65_535),
  }),
  dkim: {
    kind: 'map',
    nameLabel: 'name',
    namePattern: '^[A-Za-z0-9_-]+$',
    description: 'DKIM signing keys for direct delivery, one per sender domain: dkim.<name>.domain, .selector, .keyFile',
    value: group({
      domain: optionalText('the sender domain whose mail this key signs (d=)'),
      selector: optionalText('the selector (s=): the key is published at SELECTOR._domainkey.DOMAIN'),
      keyFile: optionalText('the private key, PEM'),
    }),
  },
  listener: group({
    enabled: flag('the agent runs the SMTP listener', false),
    host: text('address the listener binds', '127.0.0.1', { pattern: '^\\S+$' }),
    port: integer('port the listener binds (0: any free port)', 2525, 0, 65_535),
    maxMessageSize: integer('largest message accepted, in bytes (the SIZE extension)', 52_428_800, 1024),
    maxConnections: integer(
      'connections served at once; past it the connection idle longest before MAIL is closed (421), or the new one refused',
      100,
      1,
      10_000,
    ),
    idleTimeout: duration('a connection that starts no transaction (MAIL) within this time is closed with 421', '30s'),
    authUser: optionalText('user required to bind a non-loopback address (offered only over TLS there)'),
    authPass: optionalText('password for authUser', { secret: true }),
    tlsKeyFile: optionalText('TLS private key (PEM) for the listener'),
    tlsCertFile: optionalText('TLS certificate (PEM) for the listener'),
  }),
});

// ---------------------------------------------------------------------------
// Derived views. Pure functions of a spec, so tests can check them on small
// specs of their own.

function leafJsonSchema(node: ConfigLeaf): JsonSchema {
  switch (node.valueType) {
    case 'string':
      return { type: 'string', ...node.constraints };
    case 'nullableString':
      // anyOf so the pattern applies to strings only.
      return Object.keys(node.constraints).length === 0
        ? { type: ['string', 'null'] }
        : { anyOf: [{ type: 'string', ...node.constraints }, { type: 'null' }] };
    case 'integer':
    case 'number':
      return { type: node.valueType, ...node.constraints };
    case 'boolean':
      return { type: 'boolean' };
    case 'stringArray':
      return { type: 'array', items: { type: 'string', ...node.constraints } };
  }
}

/**
 * JSON Schema of a node. Defaults are left out on purpose: conf would write
 * them into config.json, and a later release's better default must reach
 * users who never set the key (defaults are merged on read instead).
 */
export function toJsonSchema(node: ConfigNode): JsonSchema {
  switch (node.kind) {
    case 'leaf':
      return { description: node.description, ...leafJsonSchema(node) };
    case 'group':
      return {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(Object.entries(node.fields).map(([k, v]) => [k, toJsonSchema(v)])),
      };
    case 'map':
      return {
        description: node.description,
        type: 'object',
        propertyNames: { pattern: node.namePattern },
        additionalProperties: toJsonSchema(node.value),
      };
  }
}

/** The schema of config.json as a whole, for conf (its `schema` option takes the properties). */
export const CONFIG_SCHEMA_PROPERTIES = (toJsonSchema(CONFIG_SPEC) as { properties: JsonSchema }).properties;

/** A node's defaults: a leaf's value, a group's object of defaults, an empty map. */
export function defaultsOf(node: ConfigNode): unknown {
  switch (node.kind) {
    case 'leaf':
      return structuredClone(node.default);
    case 'group':
      return Object.fromEntries(Object.entries(node.fields).map(([k, v]) => [k, defaultsOf(v)]));
    case 'map':
      return {};
  }
}

export const DEFAULT_CONFIG = defaultsOf(CONFIG_SPEC) as StoredConfig;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A validated stored config with every default filled in, deeply, map
 * entries included (an account that sets only its smarthost gets every
 * other account default).
 */
export function withDefaults<T = StoredConfig>(stored: unknown, node: ConfigNode = CONFIG_SPEC): T {
  switch (node.kind) {
    case 'leaf':
      return (stored === undefined ? defaultsOf(node) : stored) as T;
    case 'group': {
      const from = isPlainObject(stored) ? stored : {};
      return Object.fromEntries(Object.entries(node.fields).map(([k, v]) => [k, withDefaults(from[k], v)])) as T;
    }
    case 'map': {
      const from = isPlainObject(stored) ? stored : {};
      return Object.fromEntries(Object.entries(from).map(([name, v]) => [name, withDefaults(v, node.value)])) as T;
    }
  }
}

export interface ConfigKey {
  /** Dotted key; a map's names appear as `<label>`: `accounts.<name>.smarthost`. */
  key: string;
  leaf: ConfigLeaf;
}

/** Every settable key, in declaration order. */
export function listConfigKeys(node: ConfigNode = CONFIG_SPEC, prefix = ''): ConfigKey[] {
  switch (node.kind) {
    case 'leaf':
      return [{ key: prefix, leaf: node }];
    case 'group':
      return Object.entries(node.fields).flatMap(([k, v]) => listConfigKeys(v, prefix === '' ? k : `${prefix}.${k}`));
    case 'map':
      return listConfigKeys(node.value, `${prefix}.<${node.nameLabel}>`);
  }
}

export const CONFIG_KEYS: readonly ConfigKey[] = listConfigKeys();

export type KeyLookup =
  | { found: true; leaf: ConfigLeaf }
  | { found: false; reason: string };

/** Finds the leaf a concrete dotted key names (`accounts.work.smarthost`), checking map names. */
export function lookupConfigKey(key: string, node: ConfigNode = CONFIG_SPEC): KeyLookup {
  const parts = key.split('.');
  let cursor: ConfigNode = node;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (cursor.kind === 'leaf') return { found: false, reason: `"${parts.slice(0, i).join('.')}" has no sub-keys` };
    if (cursor.kind === 'group') {
      const next: ConfigNode | undefined = Object.hasOwn(cursor.fields, part) ? cursor.fields[part] : undefined;
      if (next === undefined) return { found: false, reason: `unknown config key "${key}"` };
      cursor = next;
    } else {
      if (!new RegExp(cursor.namePattern).test(part)) {
        return { found: false, reason: `"${part}" is not a valid ${cursor.nameLabel} (${cursor.namePattern})` };
      }
      cursor = cursor.value;
    }
  }
  if (cursor.kind !== 'leaf') return { found: false, reason: `"${key}" is a group of keys; name one of its keys` };
  return { found: true, leaf: cursor };
}

/** The concrete keys of a stored config: every declared key, with each map entry's names filled in. */
export function concreteConfigKeys(config: unknown, node: ConfigNode = CONFIG_SPEC, prefix = ''): ConfigKey[] {
  switch (node.kind) {
    case 'leaf':
      return [{ key: prefix, leaf: node }];
    case 'group': {
      const from = isPlainObject(config) ? config : {};
      return Object.entries(node.fields).flatMap(([k, v]) => concreteConfigKeys(from[k], v, prefix === '' ? k : `${prefix}.${k}`));
    }
    case 'map': {
      const from = isPlainObject(config) ? config : {};
      return Object.keys(from).flatMap((name) => concreteConfigKeys(from[name], node.value, `${prefix}.${name}`));
    }
  }
}

/** Is this concrete key a secret (never printed)? */
export function isSecretKey(key: string): boolean {
  const found = lookupConfigKey(key);
  return found.found && found.leaf.secret;
}
