/**
 * One table of every exit code of every command (src/exit-codes.ts): every
 * command of the tree has its rows, `--help` prints them, docs/cli.md holds
 * the same table (regenerate with `npm run generate`), and enqueue's help
 * names the option it means.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { runCli, SENDMAIL } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { buildProgram } from '../../src/cli/main.js';
import { EXIT_CODES, describeExitCodes, summarizeExitCodes } from '../../src/exit-codes.js';
import { withExitCodes } from '../../scripts/generate-docs.js';

test('every command of the tree has its exit codes, and the table names no command that does not exist', () => {
  const names = buildProgram()
    .commands.map((c) => c.name())
    .filter((n) => n !== 'help' && n !== 'sendmail');
  assert.deepEqual([...names].sort(), Object.keys(EXIT_CODES).filter((n) => n !== 'bulkmailer-sendmail').sort());
  for (const [command, rows] of Object.entries(EXIT_CODES)) assert.ok(rows.some(([code]) => code === 0), `${command} has a 0`);
});

test('docs/cli.md holds the generated table', async () => {
  const page = await fs.readFile(new URL('../../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(page, withExitCodes(page), 'docs/cli.md is out of date: run npm run generate');
  assert.match(page, /\| `flush` \| 77 \| the smarthost refused authentication/);
});

test('--help prints the table; each command and bulkmailer-sendmail print their own codes', async () => {
  const temp = await makeTempHome();
  try {
    const top = await runCli(['--help'], { home: temp.home });
    assert.equal(top.code, 0);
    assert.ok(top.stdout.includes(summarizeExitCodes()), top.stdout);
    const flush = await runCli(['flush', '--help'], { home: temp.home });
    assert.ok(flush.stdout.includes(`Exit codes:\n${describeExitCodes('flush')}\n`), flush.stdout);
    assert.match(flush.stdout, /^ {2}77 +the smarthost refused authentication \(AUTH\)/m);
    const configSet = await runCli(['config', 'set', '--help'], { home: temp.home });
    assert.ok(configSet.stdout.includes(describeExitCodes('config')));
    const sendmail = await runCli(['--help'], { home: temp.home, bin: SENDMAIL });
    assert.equal(sendmail.code, 0);
    assert.ok(sendmail.stdout.includes(describeExitCodes('bulkmailer-sendmail')), sendmail.stdout);
    const enqueue = await runCli(['enqueue', '--help'], { home: temp.home });
    assert.match(enqueue.stdout, /from stdin \(or --file PATH\)/);
    assert.match(enqueue.stdout, /--file <path>/);
  } finally {
    await temp.cleanup();
  }
});
