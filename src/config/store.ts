/**
 * config.json, through `conf`: schema-checked reads and writes, atomic
 * replacement, mode 0600. Defaults are merged here (deeply), not written
 * into the file, so a later release's better default reaches users who never
 * set that key.
 *
 * Fails with E_CONFIG (exit 78) naming the file and the offending key.
 */
import fs from 'node:fs';
import path from 'node:path';
import Conf from 'conf';
import { configError, fromFsError } from '../errors.js';
import { CONFIG_SCHEMA, DEFAULT_CONFIG, type StoredConfig } from './schema.js';

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

export function openConfigStore(home: string): ConfigStore {
  ensureHomeDir(home);
  try {
    return new Conf<Partial<StoredConfig>>({
      cwd: home,
      configName: 'config',
      // conf types the schema loosely; ours is checked by tests instead.
      schema: CONFIG_SCHEMA as never,
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

type Plain = Record<string, unknown>;

function isPlainObject(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergeDefaults<T>(defaults: T, stored: unknown): T {
  if (!isPlainObject(defaults) || !isPlainObject(stored)) return (stored === undefined ? defaults : stored) as T;
  const out: Plain = { ...defaults };
  for (const [key, value] of Object.entries(stored)) {
    out[key] = key in defaults ? mergeDefaults((defaults as Plain)[key], value) : value;
  }
  return out as T;
}

/** The stored config, validated, with defaults filled in. */
export function loadStoredConfig(home: string): StoredConfig {
  const file = configPath(home);
  if (!fs.existsSync(file)) return structuredClone(DEFAULT_CONFIG);
  const store = openConfigStore(home);
  try {
    return mergeDefaults(DEFAULT_CONFIG, store.store);
  } catch (err) {
    throw explainConfigError(home, err);
  }
}
