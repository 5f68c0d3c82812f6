/**
 * `bulkmailer config get|set|unset|list|keys|path`: typed edits of
 * config.json. Keys and their types come from the one declaration in
 * src/config/schema.ts. A value is parsed by its key's type (numbers,
 * booleans, lists as JSON or comma-separated, `null` to clear), then the
 * whole resulting config is checked exactly as a reader checks it (the
 * generated validator, the runtime checks of src/config/runtime.ts, the
 * key's own check from src/config/key-checks.ts), and only then written.
 * Secrets are never printed.
 */
import {
  CONFIG_KEYS,
  concreteConfigKeys,
  defaultsOf,
  isSecretKey,
  lookupConfigKey,
  type ConfigLeaf,
  type ConfigValueType,
} from '../../config/schema.js';
import { configPath, explainConfigError, loadStoredConfig, openConfigStore, resolveStoredConfig } from '../../config/store.js';
import { toRuntimeConfig } from '../../config/runtime.js';
import { checkConfigKey } from '../../config/key-checks.js';
import { redactUrl } from '../../config/smarthost.js';
import { configError, usageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { describeConfigKeys } from '../format/config-keys.js';

function checkKey(key: string): ConfigLeaf {
  const found = lookupConfigKey(key);
  if (!found.found) {
    throw usageError(`${found.reason}; \`bulkmailer config keys\` lists every key`, 'E_CONFIG_KEY');
  }
  return found.leaf;
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
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
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

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cursor = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof cursor[part] !== 'object' || cursor[part] === null) cursor[part] = {};
    cursor = cursor[part] as Record<string, unknown>;
  }
  cursor[parts[parts.length - 1] as string] = value;
}

function shownValue(key: string, value: unknown): unknown {
  if (isSecretKey(key) && value !== null && value !== undefined) return '(set, hidden)';
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? redactUrl(v) : v));
  return value;
}

export function displayValue(key: string, value: unknown): string {
  const shown = shownValue(key, value);
  return typeof shown === 'string' ? shown : JSON.stringify(shown);
}

export async function configGet(ctx: CommandContext, key: string): Promise<number> {
  const leaf = checkKey(key);
  const config = loadStoredConfig(ctx.home);
  // A map entry that does not exist yet shows its default, as a top-level key does.
  const value = getPath(config, key);
  ctx.stdout.write(`${displayValue(key, value === undefined ? defaultsOf(leaf) : value)}\n`);
  return 0;
}

export async function configSet(ctx: CommandContext, key: string, text: string): Promise<number> {
  const leaf = checkKey(key);
  const value = parseConfigValue(key, leaf.valueType, text);
  const store = await openConfigStore(ctx.home);
  // Check the whole resulting config as every reader will, before writing anything.
  const candidate = structuredClone(store.store) as Record<string, unknown>;
  setPath(candidate, key, value);
  const checked = resolveStoredConfig(ctx.home, candidate);
  toRuntimeConfig(ctx.home, checked);
  checkConfigKey(key, value);
  try {
    store.set(key, value as never);
  } catch (err) {
    throw explainConfigError(ctx.home, err);
  }
  return 0;
}

export async function configUnset(ctx: CommandContext, key: string): Promise<number> {
  checkKey(key);
  const store = await openConfigStore(ctx.home);
  store.delete(key as never);
  return 0;
}

export async function configList(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const config = loadStoredConfig(ctx.home);
  const keys = concreteConfigKeys(config).map(({ key }) => key);
  if (options.json) {
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = shownValue(key, getPath(config, key));
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  for (const key of keys) ctx.stdout.write(`${key} = ${displayValue(key, getPath(config, key))}\n`);
  return 0;
}

export async function configKeys(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  if (options.json) {
    const out = CONFIG_KEYS.map(({ key, leaf }) => ({
      key,
      type: leaf.valueType,
      default: leaf.default,
      description: leaf.description,
      secret: leaf.secret,
    }));
    ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  ctx.stdout.write(`${describeConfigKeys()}\n`);
  return 0;
}

export async function configPathCommand(ctx: CommandContext): Promise<number> {
  ctx.stdout.write(`${configPath(ctx.home)}\n`);
  return 0;
}
