/**
 * The man pages are generated at build time (scripts/build-man.mjs, part of
 * `npm run build`, which `npm test` runs first) from the command tree, are
 * listed in package.json's "man" and "files" (so npm installs them), match
 * what the current sources render, and name every command and subcommand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { buildProgram } from '../../src/cli/main.js';
import { renderBulkmailerMan, renderSendmailMan } from '../../src/cli/man-page.js';
import { packageVersion } from '../../src/version.js';
import { SENDMAIL_OPTIONS } from '../../src/frontends/sendmail/parse-args.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => fs.readFile(new URL(path, root), 'utf8');

test('package.json lists both pages for npm to install, and ships man/', async () => {
  const pkg = JSON.parse(await read('package.json')) as { man: string[]; files: string[]; scripts: { build: string } };
  assert.deepEqual(pkg.man, ['./man/bulkmailer.1', './man/bulkmailer-sendmail.1']);
  assert.ok(pkg.files.includes('man'));
  assert.match(pkg.scripts.build, /node scripts\/build-man\.mjs/);
});

test('the built pages are what the sources render now (run npm run build if not)', async () => {
  assert.equal(await read('man/bulkmailer.1'), renderBulkmailerMan(buildProgram(), packageVersion()));
  assert.equal(await read('man/bulkmailer-sendmail.1'), renderSendmailMan(packageVersion()));
});

test('bulkmailer(1) has a section for every command and subcommand of the tree, with every option', async () => {
  const page = await read('man/bulkmailer.1');
  const walk = (command: ReturnType<typeof buildProgram>, prefix: string) => {
    for (const sub of command.commands) {
      if (sub.name() === 'help') continue;
      const name = `${prefix} ${sub.name()}`;
      assert.ok(page.includes(`.B "${name.replace(/-/g, '\\-')}"`), `section for ${name}`);
      for (const option of sub.options) assert.ok(page.includes(`.B ${option.flags.replace(/-/g, '\\-')}`), `${name} ${option.flags}`);
      walk(sub, name);
    }
  };
  walk(buildProgram(), 'bulkmailer');
  assert.match(page, /^\.SH EXIT STATUS$/m);
  const sendmail = await read('man/bulkmailer-sendmail.1');
  for (const [flags] of SENDMAIL_OPTIONS) assert.ok(sendmail.includes(`.B ${flags.replace(/-/g, '\\-')}`), flags);
});

test('groff renders both pages without a warning', () => {
  for (const page of ['man/bulkmailer.1', 'man/bulkmailer-sendmail.1']) {
    const run = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', new URL(page, root).pathname], { encoding: 'utf8' });
    assert.equal(run.error, undefined, 'groff is needed for this test (apt-get install groff-base)');
    assert.equal(run.status, 0);
    assert.equal(run.stderr, '', `${page}: ${run.stderr}`);
  }
});
