/**
 * The user's configuration: its shape, defaults and JSON Schema (the one
 * validator: `conf` applies it on every read and write, so a hand-edited
 * config.json with a wrong value fails with the key's name, exit 78).
 *
 * Durations are strings ("5m"); src/config/runtime.ts turns the stored
 * form into the numbers the code uses.
 */
import { DURATION_PATTERN } from './duration.js';

export interface StoredConfig {
  /** smtp://[user[:pass]@]host[:port] (STARTTLS when offered) or smtps://... (implicit TLS). */
  smarthost: string | null;
  /** Tried in order when the smarthost is unreachable. */
  fallbackSmarthosts: string[];
  /** Default envelope sender and From: for messages that have none. */
  from: string | null;
  /** Name sent with EHLO; null: the machine's host name. */
  heloName: string | null;
  /** Parallel SMTP connections to the smarthost. */
  concurrency: number;
  /** Recipients per SMTP transaction (RFC 5321 servers must take at least 100). */
  maxRecipientsPerTransaction: number;
  tls: {
    /** Verify the smarthost's certificate. Turning this off is explicit and logged. */
    verify: boolean;
    /** Extra CA certificate(s) in PEM, for a private smarthost. */
    caFile: string | null;
  };
  auth: {
    user: string | null;
    pass: string | null;
    /** Name of an environment variable holding the password. */
    passwordEnv: string | null;
    /** A shell command whose first output line is the password (msmtp's passwordeval). */
    passwordCommand: string | null;
  };
  retry: {
    backoffStart: string;
    backoffFactor: number;
    backoffMax: string;
    lifetime: string;
  };
  timeouts: {
    /** Connectivity probe: TCP connect plus greeting. */
    probe: string;
    connect: string;
    greeting: string;
    /** Inactivity during a transaction. */
    socket: string;
  };
  /** node-cron expression for the agent's scheduled flush. */
  schedule: string;
  listener: {
    enabled: boolean;
    host: string;
    port: number;
    /** Largest message accepted, in bytes (the SIZE extension). */
    maxMessageSize: number;
    /** Required to bind a non-loopback address; offered only over TLS there. */
    authUser: string | null;
    authPass: string | null;
    tlsKeyFile: string | null;
    tlsCertFile: string | null;
  };
}

export const DEFAULT_CONFIG: StoredConfig = {
  smarthost: null,
  fallbackSmarthosts: [],
  from: null,
  heloName: null,
  concurrency: 10,
  maxRecipientsPerTransaction: 100,
  tls: { verify: true, caFile: null },
  auth: { user: null, pass: null, passwordEnv: null, passwordCommand: null },
  retry: { backoffStart: '5m', backoffFactor: 2, backoffMax: '1h', lifetime: '5d' },
  timeouts: { probe: '5s', connect: '15s', greeting: '15s', socket: '2m' },
  schedule: '*/5 * * * *',
  listener: {
    enabled: false,
    host: '127.0.0.1',
    port: 2525,
    maxMessageSize: 52_428_800,
    authUser: null,
    authPass: null,
    tlsKeyFile: null,
    tlsCertFile: null,
  },
};

const nullableString = { type: ['string', 'null'] } as const;
const duration = { type: 'string', pattern: DURATION_PATTERN } as const;
const smarthostUrl = { type: 'string', pattern: '^smtps?://[^\\s]+$' } as const;

/** JSON Schema for conf (ajv). Unknown keys are rejected so typos surface. */
export const CONFIG_SCHEMA = {
  smarthost: { anyOf: [smarthostUrl, { type: 'null' }] },
  fallbackSmarthosts: { type: 'array', items: smarthostUrl },
  from: { anyOf: [{ type: 'string', pattern: '^[^\\s<>@]+@[^\\s<>@]+$' }, { type: 'null' }] },
  heloName: nullableString,
  concurrency: { type: 'integer', minimum: 1, maximum: 100 },
  maxRecipientsPerTransaction: { type: 'integer', minimum: 1, maximum: 10_000 },
  tls: {
    type: 'object',
    additionalProperties: false,
    properties: { verify: { type: 'boolean' }, caFile: nullableString },
  },
  auth: {
    type: 'object',
    additionalProperties: false,
    properties: {
      user: nullableString,
      pass: nullableString,
      passwordEnv: nullableString,
      passwordCommand: nullableString,
    },
  },
  retry: {
    type: 'object',
    additionalProperties: false,
    properties: {
      backoffStart: duration,
      backoffFactor: { type: 'number', minimum: 1, maximum: 10 },
      backoffMax: duration,
      lifetime: duration,
    },
  },
  timeouts: {
    type: 'object',
    additionalProperties: false,
    properties: { probe: duration, connect: duration, greeting: duration, socket: duration },
  },
  // Five or six space-separated fields (node-cron takes an optional seconds field).
  schedule: { type: 'string', pattern: '^\\S+( \\S+){4,5}$' },
  listener: {
    type: 'object',
    additionalProperties: false,
    properties: {
      enabled: { type: 'boolean' },
      host: { type: 'string', pattern: '^\\S+$' },
      port: { type: 'integer', minimum: 0, maximum: 65_535 },
      maxMessageSize: { type: 'integer', minimum: 1024 },
      authUser: nullableString,
      authPass: nullableString,
      tlsKeyFile: nullableString,
      tlsCertFile: nullableString,
    },
  },
} as const;

/** Dotted keys that `config set` accepts, with the JSON type of each. */
export type ConfigValueType = 'string' | 'nullableString' | 'integer' | 'number' | 'boolean' | 'stringArray';

export const CONFIG_KEYS: Record<string, ConfigValueType> = {
  smarthost: 'nullableString',
  fallbackSmarthosts: 'stringArray',
  from: 'nullableString',
  heloName: 'nullableString',
  concurrency: 'integer',
  maxRecipientsPerTransaction: 'integer',
  'tls.verify': 'boolean',
  'tls.caFile': 'nullableString',
  'auth.user': 'nullableString',
  'auth.pass': 'nullableString',
  'auth.passwordEnv': 'nullableString',
  'auth.passwordCommand': 'nullableString',
  'retry.backoffStart': 'string',
  'retry.backoffFactor': 'number',
  'retry.backoffMax': 'string',
  'retry.lifetime': 'string',
  'timeouts.probe': 'string',
  'timeouts.connect': 'string',
  'timeouts.greeting': 'string',
  'timeouts.socket': 'string',
  schedule: 'string',
  'listener.enabled': 'boolean',
  'listener.host': 'string',
  'listener.port': 'integer',
  'listener.maxMessageSize': 'integer',
  'listener.authUser': 'nullableString',
  'listener.authPass': 'nullableString',
  'listener.tlsKeyFile': 'nullableString',
  'listener.tlsCertFile': 'nullableString',
};

/** Keys whose values are secrets: never printed by `config list/get` or logs. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['auth.pass', 'listener.authPass']);
