import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { generateConfigTypes, generateConfigValidator, GENERATED_TYPES, GENERATED_VALIDATOR } from '../../scripts/generate-config-validator.js';
import {
  CONFIG_KEYS,
  concreteConfigKeys,
  isSecretKey,
  lookupConfigKey,
  toJsonSchema,
  withDefaults,
  type ConfigGroup,
} from '../../src/config/schema.js';
import { AGENT_STOP_GRACE_MS, SERVICE_STOP_TIMEOUT_S } from '../../src/timing.js';
import { loadStoredConfig } from '../../src/config/store.js';
import { loadRuntimeConfig } from '../../src/config/runtime.js';
import { parseSmarthostUrl, redactUrl } from '../../src/config/smarthost.js';
import { parseDuration } from '../../src/config/duration.js';
import { resolveHome } from '../../src/config/home.js';

test('the committed config validator and type are generated from the current schema (npm run generate)', async () => {
  assert.equal(await fs.readFile(GENERATED_VALIDATOR, 'utf8'), generateConfigValidator());
  assert.equal(await fs.readFile(GENERATED_TYPES, 'utf8'), generateConfigTypes());
});

// A small spec of our own with a map, so the derivations are tested apart from today's keys.
const MAP_SPEC: ConfigGroup = {
  kind: 'group',
  fields: {
    name: { kind: 'leaf', valueType: 'string', constraints: {}, default: 'x', description: 'a name', secret: false },
    accounts: {
      kind: 'map',
      nameLabel: 'name',
      namePattern: '^[a-z][a-z0-9-]*$',
      description: 'named accounts',
      value: {
        kind: 'group',
        fields: {
          port: { kind: 'leaf', valueType: 'integer', constraints: { minimum: 1 }, default: 587, description: 'port', secret: false },
          pass: { kind: 'leaf', valueType: 'nullableString', constraints: {}, default: null, description: 'secret', secret: true },
        },
      },
    },
  },
};

test('one declaration gives the JSON Schema, the defaults, the key list and key lookup, maps included', () => {
  const schema = toJsonSchema(MAP_SPEC) as { properties: Record<string, Record<string, unknown>> };
  assert.deepEqual(schema.properties.accounts?.propertyNames, { pattern: '^[a-z][a-z0-9-]*$' });
  assert.equal((schema.properties.accounts?.additionalProperties as { additionalProperties: boolean }).additionalProperties, false);
  assert.equal(JSON.stringify(schema).includes('"default"'), false, 'defaults stay out of the schema, so conf never writes them');

  assert.deepEqual(withDefaults({ accounts: { work: { pass: 'p' } } }, MAP_SPEC), {
    name: 'x',
    accounts: { work: { port: 587, pass: 'p' } },
  });
  assert.deepEqual(withDefaults(undefined, MAP_SPEC), { name: 'x', accounts: {} });

  const lookup = lookupConfigKey('accounts.work.port', MAP_SPEC);
  assert.ok(lookup.found && lookup.leaf.valueType === 'integer');
  const badName = lookupConfigKey('accounts.Work!.port', MAP_SPEC);
  assert.ok(!badName.found && /not a valid name/.test(badName.reason));
  assert.equal(lookupConfigKey('accounts.work', MAP_SPEC).found, false);
  assert.equal(lookupConfigKey('name.sub', MAP_SPEC).found, false);
  assert.equal(lookupConfigKey('toString', MAP_SPEC).found, false, 'inherited object properties are not keys');

  assert.deepEqual(
    concreteConfigKeys({ accounts: { a: {}, b: {} } }, MAP_SPEC).map((k) => k.key),
    ['name', 'accounts.a.port', 'accounts.a.pass', 'accounts.b.port', 'accounts.b.pass'],
  );
  // Today's real keys: every one is listed once, and the secrets are the two passwords and the OAuth2 client secret.
  const keys = CONFIG_KEYS.map((k) => k.key);
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(keys.filter((k) => isSecretKey(k)), ['auth.pass', 'oauth2.clientSecret', 'listener.authPass']);
});

test('`config keys` and `config --help` list every key on a line of its own, with its meaning', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const keys = await runCli(['config', 'keys'], { home });
  assert.equal(keys.code, 0, keys.stderr);
  const lines = keys.stdout.trimEnd().split('\n');
  assert.equal(lines.length, CONFIG_KEYS.length);
  for (const [i, { key, leaf }] of CONFIG_KEYS.entries()) {
    assert.ok(lines[i]!.trim().startsWith(`${key} `), lines[i]);
    assert.ok(lines[i]!.includes(leaf.description), lines[i]);
  }
  assert.match(keys.stdout, /^ {2}retry\.lifetime +retry time .*default "5d"\)$/m);
  const json = JSON.parse((await runCli(['config', 'keys', '--json'], { home })).stdout) as Array<{ key: string; secret: boolean }>;
  assert.deepEqual(json.filter((k) => k.secret).map((k) => k.key), ['auth.pass', 'oauth2.clientSecret', 'accounts.<name>.auth.pass', 'accounts.<name>.oauth2.clientSecret', 'listener.authPass']);
  for (const args of [['config', '--help'], ['config', 'set', '--help']]) {
    const help = await runCli(args, { home });
    assert.match(help.stdout, /^ {2}listener\.maxMessageSize +largest message accepted/m, args.join(' '));
  }
});

test('the defaults come from the declaration, and related time limits keep their relation', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const runtime = loadRuntimeConfig(home);
  assert.deepEqual(runtime.retry, { backoffStartMs: 300_000, backoffFactor: 2, backoffMaxMs: 3_600_000, lifetimeMs: 432_000_000 });
  assert.equal(runtime.concurrency, 20);
  assert.ok(SERVICE_STOP_TIMEOUT_S * 1000 > AGENT_STOP_GRACE_MS, 'the service manager waits longer than the agent does');
});

test('config set/get/unset/list/path round-trip through a private config.json', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const set = async (key: string, value: string) => {
    const result = await runCli(['config', 'set', key, value], { home });
    assert.equal(result.code, 0, result.stderr);
  };
  await set('smarthost', 'smtps://me%40example.net:s3cret@smtp.example.net');
  await set('concurrency', '4');
  await set('tls.verify', 'false');
  await set('fallbackSmarthosts', 'smtp://a.example.net,smtp://b.example.net:2525');
  await set('retry.lifetime', '3d');
  await set('schedule', '*/2 * * * * *');
  const file = path.join(home, 'config.json');
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  const stored = JSON.parse(await fs.readFile(file, 'utf8'));
  assert.equal(stored.concurrency, 4);
  assert.equal(stored.tls.verify, false);
  assert.deepEqual(stored.fallbackSmarthosts, ['smtp://a.example.net', 'smtp://b.example.net:2525']);
  assert.equal(stored.maxRecipientsPerTransaction, undefined, 'defaults are not written into the file');

  const get = await runCli(['config', 'get', 'smarthost'], { home });
  assert.equal(get.stdout.trim(), 'smtps://me%40example.net:***@smtp.example.net');
  const list = await runCli(['config', 'list'], { home });
  assert.match(list.stdout, /^concurrency = 4$/m);
  assert.match(list.stdout, /^maxRecipientsPerTransaction = 100$/m);
  assert.doesNotMatch(list.stdout + list.stderr, /s3cret/);
  const json = JSON.parse((await runCli(['config', 'list', '--json'], { home })).stdout);
  assert.equal(json['retry.lifetime'], '3d');

  assert.equal((await runCli(['config', 'unset', 'concurrency'], { home })).code, 0);
  assert.equal((await runCli(['config', 'get', 'concurrency'], { home })).stdout.trim(), '20');
  assert.equal((await runCli(['config', 'path'], { home })).stdout.trim(), file);
  const runtime = loadRuntimeConfig(home);
  assert.deepEqual(runtime.smarthosts.map((s) => s.display), [
    'smtps://me%40example.net@smtp.example.net:465',
    'smtp://a.example.net:587',
    'smtp://b.example.net:2525',
  ]);
  assert.equal(runtime.retry.lifetimeMs, 3 * 86_400_000);
});

test('bad values are refused with exit 78 (or 64 for an unknown key) and the file is left as it was', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  assert.equal((await runCli(['config', 'set', 'from', 'me@example.net'], { home })).code, 0);
  const before = await fs.readFile(path.join(home, 'config.json'), 'utf8');
  for (const [key, value, code, pattern] of [
    ['concurrency', 'many', 78, /not a whole number/],
    ['concurrency', '0', 78, /concurrency/],
    ['smarthost', 'http://example.net', 78, /smarthost/],
    ['retry.backoffStart', 'soon', 78, /retry/],
    ['retry.backoffMax', '1m', 78, /backoffMax must not be shorter/],
    ['schedule', 'every minute', 78, /schedule/],
    ['schedule', '99 99 * * *', 78, /schedule: "99 99 \* \* \*" is not a cron expression/],
    ['fallbackSmarthosts', '["unterminated', 78, /expected a JSON list/],
    ['limits', '100/fortnight', 78, /limits: "100\/fortnight" is not a limit/],
    ['limits', '0/hour', 78, /a limit must allow at least 1/],
    ['from', 'not-an-address', 78, /from/],
    ['tls.verify', 'maybe', 78, /true or false/],
    ['smarthostt', 'smtp://x', 64, /unknown config key "smarthostt"; `bulkmailer config keys` lists every key/],
    ['tls', 'true', 64, /is a group of keys/],
  ] as const) {
    const result = await runCli(['config', 'set', key, value], { home });
    assert.equal(result.code, code, `${key}=${value}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
  }
  assert.equal(await fs.readFile(path.join(home, 'config.json'), 'utf8'), before);
});

test('a hand-edited config.json with a wrong type or an unknown key fails with the key named', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await fs.writeFile(path.join(home, 'config.json'), JSON.stringify({ concurrency: 'x', tls: { verfy: true } }));
  assert.throws(() => loadStoredConfig(home), (err: Error & { exitCode?: number }) => {
    assert.equal(err.exitCode, 78);
    assert.match(err.message, /`concurrency` must be integer/);
    assert.match(err.message, /`tls` has an unknown key `verfy`/);
    return true;
  });
  await fs.writeFile(path.join(home, 'config.json'), '{"smarthost": ');
  assert.throws(() => loadStoredConfig(home), /not valid JSON/);
});

test('smarthost URLs, durations and the home resolve as documented', () => {
  const plain = parseSmarthostUrl('smtp://relay.example.net');
  assert.deepEqual([plain.secure, plain.port, plain.loopback], [false, 587, false]);
  const tls = parseSmarthostUrl('smtps://u:p%40ss@[::1]');
  assert.deepEqual([tls.secure, tls.port, tls.user, tls.pass, tls.loopback, tls.display], [true, 465, 'u', 'p@ss', true, 'smtps://u@[::1]:465']);
  assert.equal(parseSmarthostUrl('smtp://127.0.0.2:2525').loopback, true);
  assert.throws(() => parseSmarthostUrl('smtp://x/path'), /no path/);
  assert.equal(redactUrl('failed: smtp://u:secret@host:25'), 'failed: smtp://u:***@host:25');
  assert.deepEqual(['250ms', '30s', '5m', '1.5h', '5d'].map((d) => parseDuration(d)), [250, 30_000, 300_000, 5_400_000, 432_000_000]);
  assert.throws(() => parseDuration('5 minutes'), /not a duration/);
  assert.equal(resolveHome('rel/dir', {}), path.resolve('rel/dir'));
  assert.equal(resolveHome(undefined, { BULKMAILER_HOME: '/x/y' }), '/x/y');
  assert.equal(resolveHome(undefined, { HOME: '/home/u' }), '/home/u/.local/share/bulkmailer');
});
