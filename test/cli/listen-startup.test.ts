/**
 * What `bulkmailer listen` loads and keeps before its first message (issue
 * 10's 60 MiB: docs/performance.md, "`bulkmailer listen`'s start-up
 * state"), and that its lean start keeps the one config read every
 * command shares: the same validation, the same messages and exit 78 for
 * a broken config.json, before anything is bound.
 *
 * The modules are recorded by test/support/record-modules.mjs, preloaded
 * into the real command (ES modules, and CommonJS packages imported from
 * them: the only way `conf` or `ajv` could come in).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, collect, spawnCli, untilListening, type RunResult } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';

const RECORDER = path.join(ROOT, 'test', 'support', 'record-modules.mjs');

async function writeConfig(home: string, text: string): Promise<void> {
  await fs.writeFile(path.join(home, 'config.json'), text, { mode: 0o600 });
}

/** Starts `listen --port 0`, waits for "listening on", stops it with SIGTERM; resolves with its result. */
async function listenOnce(home: string, env: Record<string, string> = {}): Promise<RunResult> {
  const child = spawnCli(['listen', '--port', '0'], { home, env: { NODE_OPTIONS: `--import=${RECORDER}`, ...env } });
  const result = collect(child);
  await untilListening(child, result);
  child.kill('SIGTERM');
  return result;
}

test("listen loads its own command only: no other command, no completion generator, no conf or ajv, no nodemailer mime-funcs", async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  // A config.json to read and validate, as a user's listener has.
  await writeConfig(home, JSON.stringify({ smarthost: 'smtp://127.0.0.1:2599', from: 'list@example.org', listener: { maxConnections: 50 } }));
  const list = path.join(home, 'modules.txt');
  const result = await listenOnce(home, { BULKMAILER_TEST_MODULES_FILE: list });
  assert.equal(result.code, 0, JSON.stringify(result));
  const files = (await fs.readFile(list, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((url) => path.relative(ROOT, fileURLToPath(url)));
  const commands = path.join('dist', 'cli', 'commands');
  // The recorder saw the command run (else the assertions below would pass on nothing).
  assert.ok(files.includes(path.join(commands, 'listen.js')), files.join(' '));
  assert.ok(files.includes(path.join('dist', 'config', 'generated', 'validate-config.js')), 'config.json was validated');
  assert.deepEqual(
    files.filter((f) => f.startsWith(commands + path.sep) && f !== path.join(commands, 'listen.js')),
    [],
    'other commands loaded',
  );
  assert.equal(files.includes(path.join('dist', 'cli', 'completion.js')), false, 'the completion generator was loaded');
  const isPackage = (name: string) => (f: string) => f.startsWith(path.join('node_modules', name) + path.sep);
  assert.deepEqual(files.filter(isPackage('conf')), [], 'conf (the config writer) was loaded');
  assert.deepEqual(files.filter(isPackage('ajv')), [], 'ajv was loaded');
  // src/message/encoded-words.ts encodes without it (its MIME-type table alone is ~90 KB of source).
  assert.deepEqual(files.filter(isPackage(path.join('nodemailer', 'dist', 'esm', 'mime-funcs'))), [], "nodemailer's mime-funcs was loaded");
});

test('listen with a broken config.json fails with exit 78 naming the file and the key, before binding', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const file = path.join(home, 'config.json');
  const cases: Array<[string, RegExp]> = [
    ['{"listener": {"port": 2525,}', /config\.json is not valid JSON/],
    // Outside the listener's own section: the whole file is checked, as every command does.
    [JSON.stringify({ tls: { verfy: false } }), /`tls` has an unknown key `verfy`/],
    [JSON.stringify({ listener: { port: 'twenty' } }), /`listener\.port` must be integer/],
  ];
  for (const [text, message] of cases) {
    await writeConfig(home, text);
    const child = spawnCli(['listen', '--port', '0'], { home });
    const result = await collect(child);
    assert.equal(result.code, 78, `${text}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.ok(result.stderr.includes(file), result.stderr);
    assert.equal(result.stdout, '', 'nothing was bound');
  }
});
