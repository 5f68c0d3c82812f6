/**
 * `bulkmailer config get|set|unset|list|path`: typed edits of config.json.
 * Values are parsed by the key's type (numbers, booleans, lists as JSON or
 * comma-separated, `null` to clear), checked by the schema and by the
 * runtime checks, and only then written. Secrets are never printed.
 */
import { CONFIG_KEYS, DEFAULT_CONFIG, SECRET_KEYS, type ConfigValueType } from '../../config/schema.js';
import { configPath, explainConfigError, loadStoredConfig, mergeDefaults, openConfigStore } from '../../config/store.js';
import { toRuntimeConfig } from '../../config/runtime.js';
import { redactUrl } from '../../config/smarthost.js';
import { configError, usageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

function checkKey(key: string): ConfigValueType {
  const type = CONFIG_KEYS[key];
  if (type === undefined) {
    throw usageError(`unknown config key "${key}"; known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`, 'E_CONFIG_KEY');
  }
  return type;
}

export function parseConfigValue(key: string, type: ConfigValueType, text: string): unknown {
  switch (type) {
    case 'string':
      return text;
    case 'nullableString':
      return text === 'null' || text === '' ? null : text;
    case 'integer':
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) {
        throw configError(`${key}: "${text}" is not ${type === 'integer' ? 'a whole number' : 'a number'}`);
      }
      return n;
    }
    case 'boolean':
      if (['true', 'yes', 'on', '1'].includes(text)) return true;
      if (['false', 'no', 'off', '0'].includes(text)) return false;
      throw configError(`${key}: "${text}" is not true or false`);
    case 'stringArray': {
      if (text.trim().startsWith('[')) {
        const parsed: unknown = JSON.parse(text);
        if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
          throw configError(`${key}: expected a JSON list of strings`);
        }
        return parsed;
      }
      return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    }
  }
}

function getPath(obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, part) => (o as Record<string, unknown> | null)?.[part], obj);
}

export function displayValue(key: string, value: unknown): string {
  if (SECRET_KEYS.has(key) && value !== null && value !== undefined) return '(set, hidden)';
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return JSON.stringify(value.map((v) => (typeof v === 'string' ? redactUrl(v) : v)));
  return JSON.stringify(value);
}

export async function configGet(ctx: CommandContext, key: string): Promise<number> {
  checkKey(key);
  const config = loadStoredConfig(ctx.home);
  ctx.stdout.write(`${displayValue(key, getPath(config, key))}\n`);
  return 0;
}

export async function configSet(ctx: CommandContext, key: string, text: string): Promise<number> {
  const type = checkKey(key);
  const value = parseConfigValue(key, type, text);
  const store = await openConfigStore(ctx.home);
  // Check the whole resulting config before writing anything.
  const candidate = structuredClone(store.store) as Record<string, unknown>;
  setPath(candidate, key, value);
  toRuntimeConfig(ctx.home, mergeDefaults(DEFAULT_CONFIG, candidate));
  try {
    store.set(key, value as never);
  } catch (err) {
    throw explainConfigError(ctx.home, err);
  }
  return 0;
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cursor = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof cursor[part] !== 'object' || cursor[part] === null) cursor[part] = {};
    cursor = cursor[part] as Record<string, unknown>;
  }
  cursor[parts[parts.length - 1] as string] = value;
}

export async function configUnset(ctx: CommandContext, key: string): Promise<number> {
  checkKey(key);
  const store = await openConfigStore(ctx.home);
  store.delete(key as never);
  return 0;
}

export async function configList(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const config = loadStoredConfig(ctx.home);
  if (options.json) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(CONFIG_KEYS)) {
      const value = getPath(config, key);
      out[key] = SECRET_KEYS.has(key) && value !== null ? '(set, hidden)' : typeof value === 'string' ? redactUrl(value) : value;
    }
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  for (const key of Object.keys(CONFIG_KEYS)) ctx.stdout.write(`${key} = ${displayValue(key, getPath(config, key))}\n`);
  return 0;
}

export async function configPathCommand(ctx: CommandContext): Promise<number> {
  ctx.stdout.write(`${configPath(ctx.home)}\n`);
  return 0;
}
