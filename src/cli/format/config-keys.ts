/**
 * The key table of `config keys` and of `config --help`: one line per key
 * with its type, default and meaning, from the one declaration in
 * src/config/schema.ts. Its own module so that --help does not load the
 * config commands.
 */
import { CONFIG_KEYS, type ConfigValueType } from '../../config/schema.js';

const TYPE_WORDS: Record<ConfigValueType, string> = {
  string: 'text',
  nullableString: 'text or null',
  integer: 'whole number',
  number: 'number',
  boolean: 'true/false',
  stringArray: 'list',
};

/** One line per key: name, type, default, description. Also the help text of `config`. */
export function describeConfigKeys(): string {
  const width = Math.max(...CONFIG_KEYS.map(({ key }) => key.length));
  return CONFIG_KEYS.map(({ key, leaf }) => {
    const fallback = leaf.default === null ? '' : `; default ${JSON.stringify(leaf.default)}`;
    return `  ${key.padEnd(width)}  ${leaf.description} (${TYPE_WORDS[leaf.valueType]}${fallback})`;
  }).join('\n');
}
