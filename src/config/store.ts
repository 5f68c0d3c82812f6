/**
 * config.json: read fast, written through `conf`.
 *
 * Reading (every command) parses the file and checks it with the validator
 * compiled from the JSON Schema at build time (src/config/generated/,
 * made by scripts/generate-config-validator.ts), so no command pays for
 * importing and compiling ajv. Writing (`config set/unset`) goes through
 * `conf`, which applies the same schema and replaces the file atomically
 * with mode 0600; it is imported only then.
 *
 * Defaults are merged here (deeply, map entries included), not written into
 * the file, so a later release's better default reaches users who never set
 * that key.
 *
 * Fails with E_CONFIG_* (exit 78) naming the file and the offending key,
 * and with E_UNTRUSTED_PATH (exit 77) when the file or a directory above it
 * could be changed by another user (src/trusted-path.ts), before reading it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Conf from 'conf';
import { configError, fromFsError } from '../errors.js';
import { checkTrustedPath, type TrustCheckOptions } from '../trusted-path.js';
import { ACCOUNT_SETTINGS, CONFIG_SCHEMA_PROPERTIES, DEFAULT_CONFIG, withDefaults, type StoredConfig } from './schema.js';
import { withPresets } from './presets.js';
import validateConfig from './generated/validate-config.js';

export const CONFIG_FILE = 'config.json';

export function configPath(home: string): string {
  return path.join(home, CONFIG_FILE);
}

/** Creates the home directory private to the user (0700). */
export function ensureHomeDir(home: string): void {
  try {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fromFsError(`cannot create home ${home}`, err);
  }
}

export type ConfigStore = Conf<Partial<StoredConfig>>;

/** The writer: conf with the schema. Only `config set/unset` need it. */
export async function openConfigStore(home: string): Promise<ConfigStore> {
  checkTrustedPath(configPath(home), 'the config file');
  ensureHomeDir(home);
  const { default: ConfClass } = await import('conf');
  try {
    return new ConfClass<Partial<StoredConfig>>({
      cwd: home,
      configName: 'config',
      // conf types the schema loosely; ours is checked by tests instead.
      schema: CONFIG_SCHEMA_PROPERTIES as never,
      rootSchema: { additionalProperties: false },
      configFileMode: 0o600,
      clearInvalidConfig: false,
    });
  } catch (err) {
    throw explainConfigError(home, err);
  }
}

export function explainConfigError(home: string, err: unknown) {
  const message = err instanceof Error ? err.message : String(err);
  const file = configPath(home);
  if (err instanceof SyntaxError) return configError(`${file} is not valid JSON: ${message}`, 'E_CONFIG_SYNTAX', err);
  if (message.startsWith('Config schema violation:')) {
    return configError(`${file}: ${message.replace('Config schema violation: ', '')}`, 'E_CONFIG_INVALID', err);
  }
  if ((err as NodeJS.ErrnoException).code) return fromFsError(`cannot read ${file}`, err);
  return configError(`${file}: ${message}`, 'E_CONFIG', err);
}

interface SchemaError {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Checks a parsed config object against the schema; the message names each bad key (as conf does). */
export function checkStoredConfig(home: string, raw: unknown): Partial<StoredConfig> {
  const validate = validateConfig as unknown as ((data: unknown) => boolean) & { errors?: SchemaError[] | null };
  if (validate(raw)) return raw as Partial<StoredConfig>;
  const problems = (validate.errors ?? []).map((e) => {
    const key = e.instancePath.slice(1).replace(/\//g, '.');
    const extra = e.params?.additionalProperty;
    return extra !== undefined
      ? `${key === '' ? '' : `\`${key}\` `}has an unknown key \`${String(extra)}\``
      : `\`${key}\` ${e.message ?? 'is invalid'}`;
  });
  throw configError(`${configPath(home)}: ${[...new Set(problems)].join('; ')}`, 'E_CONFIG_INVALID');
}

/** Whether the account settings declare `auth.method` (the oauth2 work adds it; presets fill it then). */
const AUTH_METHOD_DECLARED = (() => {
  const auth = ACCOUNT_SETTINGS.auth;
  return auth?.kind === 'group' && Object.hasOwn(auth.fields, 'method');
})();

/**
 * A parsed config.json as every reader sees it: validated, each account's
 * preset laid under what it sets (src/config/presets.ts), defaults filled.
 * `config set` checks its candidate through this too.
 */
export function resolveStoredConfig(home: string, raw: unknown): StoredConfig {
  return withDefaults(withPresets(checkStoredConfig(home, raw), AUTH_METHOD_DECLARED));
}

/**
 * The stored config, validated, with presets and defaults filled in.
 * `oneShot`: for a process that queues one message and exits, whose spool
 * open then need not walk the home's directories again (src/trusted-path.ts).
 */
export function loadStoredConfig(home: string, options: TrustCheckOptions = {}): StoredConfig {
  const file = configPath(home);
  // Before reading a word of it: a config another user can change runs their passwordCommand as you.
  checkTrustedPath(file, 'the config file', options);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(DEFAULT_CONFIG);
    throw explainConfigError(home, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw explainConfigError(home, err);
  }
  return resolveStoredConfig(home, raw);
}
