/**
 * The flush's start-up (issue 10, the small drain: docs/performance.md,
 * "The small drain's start-up and per-entry work"), under the real
 * `bulkmailer flush` against a capture server:
 *
 *  - a drain loads no module it does not use: no progress bar
 *    (cli-progress) with --quiet or without a terminal, no XOAUTH2 login
 *    for an account without OAuth2;
 *  - the queue is planned a short first window at a time: a queue longer
 *    than it is delivered whole, each message once;
 *  - the transaction journal's own fsyncs run while the sessions connect,
 *    but no dot is sent before the journal is durable: with its
 *    directory's fsync failing (EIO, test/support/fsync-fault.ts) the
 *    smarthost receives no message, the flush fails with a sentence, and
 *    a flush on a healthy disk then sends everything once.
 *
 * The modules are recorded by test/support/record-modules.mjs, preloaded
 * into the real command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, runCli } from '../support/cli.js';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { fsyncFaultForTests } from '../support/fsync-fault.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, spoolLayout } from '../../src/spool/index.js';

const RECORDER = path.join(ROOT, 'test', 'support', 'record-modules.mjs');
const fault = fsyncFaultForTests();

const message = (n: number) => `From: list@example.org\r\nSubject: post ${n}\r\nMessage-ID: <post-${n}@example.org>\r\n\r\nHello ${n}.\r\n`;

/** Runs `bulkmailer flush ARGS` with the module recorder; its result and the files it loaded, relative to the checkout. */
async function flushRecorded(home: string, args: string[]): Promise<{ code: number | null; out: string; files: string[] }> {
  const list = path.join(home, `modules-${Date.now()}.txt`);
  const result = await runCli(['flush', ...args], { home, env: { NODE_OPTIONS: `--import=${RECORDER}`, BULKMAILER_TEST_MODULES_FILE: list } });
  const files = (await fs.readFile(list, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((url) => path.relative(ROOT, fileURLToPath(url)));
  return { code: result.code, out: result.stdout + result.stderr, files };
}

const isPackage = (name: string) => (f: string) => f.startsWith(path.join('node_modules', name) + path.sep);
const XOAUTH2 = path.join('dist', 'delivery', 'xoauth2-login.js');

test('a drain loads no progress bar without a terminal and no XOAUTH2 login without OAuth2', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const spool = await openSpool(home);
  for (let n = 0; n < 3; n++) await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${n}@example.net`], message: message(n) });
  for (const args of [['--quiet'], []]) {
    if (args.length === 0) await enqueueMessage(spool, { from: 'list@example.org', recipients: ['late@example.net'], message: message(9) });
    const { code, out, files } = await flushRecorded(home, args);
    assert.equal(code, 0, out);
    // The recorder saw the delivery run (else the assertions below would pass on nothing).
    assert.ok(files.includes(path.join('dist', 'delivery', 'deliver-batch.js')), files.join(' '));
    assert.ok(files.some(isPackage('nodemailer')), 'nodemailer was loaded');
    assert.deepEqual(files.filter(isPackage('cli-progress')), [], `cli-progress was loaded (flush ${args.join(' ')}, no terminal)`);
    assert.equal(files.includes(XOAUTH2), false, 'the XOAUTH2 login was loaded');
    assert.deepEqual(files.filter(isPackage(path.join('nodemailer', 'dist', 'esm', 'xoauth2'))), [], "nodemailer's XOAUTH2 was loaded");
  }
  assert.deepEqual(server.messages.map((m) => m.to.join(',')).sort(), ['late@example.net', 'r0@example.net', 'r1@example.net', 'r2@example.net']);
});

test('a queue longer than the first planning window is delivered whole, each message once', async (t) => {
  const { server, home } = await smarthostAndHome(t, { concurrency: 4 });
  const spool = await openSpool(home);
  const count = 130; // past the first window (100 entries), within the next
  for (let n = 0; n < count; n++) await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${n}@example.net`], message: message(n) });
  const result = await runCli(['flush', '--quiet'], { home });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const to = server.messages.map((m) => m.to[0]!);
  assert.equal(to.length, count);
  assert.equal(new Set(to).size, count, 'a message went twice');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test("the journal's directory fsync failing: no message reaches the smarthost, a sentence, and the next flush sends each once", async (t) => {
  const { server, home } = await smarthostAndHome(t, { concurrency: 2 });
  const spool = await openSpool(home);
  for (let n = 0; n < 3; n++) await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${n}@example.net`], message: message(n) });

  const failed = await runCli(['flush'], { home, env: fault.env(`${spoolLayout(home).journal}`) });
  assert.notEqual(failed.code, 0, failed.stdout + failed.stderr);
  assert.equal(failed.code, 74, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /journal.*input\/output error/);
  assert.doesNotMatch(failed.stderr, /internal error|\n\s+at |Unhandled|triggerUncaughtException/);
  assert.equal(server.messages.length, 0, 'a message was sent before its journal line was durable');
  assert.equal((await listStateFileIdsIncludingFinished(spool)).length, 3);

  const again = await runCli(['flush', '--quiet'], { home });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(server.messages.map((m) => m.to[0]).sort(), ['r0@example.net', 'r1@example.net', 'r2@example.net']);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});
