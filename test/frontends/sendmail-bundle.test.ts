/**
 * The sendmail command runs the bundle that `npm run build` (hence `npm ci`)
 * makes from src/ (scripts/bundle-sendmail.mjs): the real
 * bin/bulkmailer-sendmail queues a message while a loader hook records
 * every file it loads. It must load the bundle, and none of the ~40
 * separate dist/ modules nor any npm package it loaded before; -q still
 * reaches the flush code (a chunk loaded on demand).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { collect, ROOT, SENDMAIL } from '../support/cli.js';
import { spawn } from 'node:child_process';

const RECORDER = path.join(ROOT, 'test', 'support', 'record-modules.mjs');

async function runRecorded(home: string, args: string[], input: string) {
  const list = path.join(home, 'modules.txt');
  const child = spawn(process.execPath, ['--import', RECORDER, SENDMAIL, ...args], {
    env: { ...process.env, BULKMAILER_HOME: home, BULKMAILER_TEST_MODULES_FILE: list },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = await collect(child, input);
  const urls = (await fs.readFile(list, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const files = urls.map((u) => fileURLToPath(u));
  const isPackage = (f: string) => f.includes(`${path.sep}node_modules${path.sep}`);
  const ours = files.filter((f) => f.startsWith(ROOT + path.sep) && !isPackage(f));
  return { result, ours: ours.map((f) => path.relative(ROOT, f)), packages: files.filter(isPackage) };
}

test('bin/bulkmailer-sendmail queues a message from the bundle, not from separate dist/ modules', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { from: 'ada@example.org' });
  const { result, ours, packages } = await runRecorded(home, ['-f', 'ada@example.org', 'bob@example.net'], 'Subject: hi\n\nbody\n');
  assert.equal(result.code, 0, result.stderr);
  assert.equal((await listEntryIds(await openSpool(home))).length, 1);
  assert.ok(ours.includes(path.join('dist', 'bundle', 'sendmail', 'entry.js')), ours.join(' '));
  const outside = ours.filter((f) => f !== path.join('bin', 'bulkmailer-sendmail') && !f.startsWith(path.join('dist', 'bundle', 'sendmail') + path.sep));
  assert.deepEqual(outside, [], 'loaded outside the bundle');
  // A handful of files (the entry and its shared chunks), not one per source module.
  assert.ok(ours.length <= 12, `loaded ${ours.length} files: ${ours.join(' ')}`);
  // nodemailer's address parser and MIME word encoder are bundled: queueing resolves no package.
  assert.deepEqual(packages, []);
});

test('the bundled sendmail -q loads the flush code on demand and runs it', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  // Nothing queued: the flush finds nothing due and exits 0.
  const { result, ours } = await runRecorded(home, ['-q'], '');
  assert.equal(result.code, 0, result.stderr);
  assert.ok(ours.every((f) => f === path.join('bin', 'bulkmailer-sendmail') || f.startsWith(path.join('dist', 'bundle', 'sendmail') + path.sep)), ours.join(' '));
});
