/**
 * The sendmail command against the fault campaign's findings (issue 11):
 * arguments after `--` that look like options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli, SENDMAIL } from '../support/cli.js';

const MESSAGE = 'From: ada@example.org\nSubject: hi\n\nbody\n';

test('`sendmail -- -f x` is refused (exit 65, naming "-f"), not queued for "-f@domain"', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { from: 'ada@example.org' });
  const result = await runCli(['--', '-f', 'x'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(result.code, 65, result.stderr);
  assert.match(result.stderr, /"-f" begins with "-"/);
  assert.deepEqual(await listEntryIds(await openSpool(home)), []);
  // -f with a leading dash as the sender is refused the same way.
  const sender = await runCli(['-f', '-x@example.org', 'bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(sender.code, 65, sender.stderr);
  assert.deepEqual(await listEntryIds(await openSpool(home)), []);
});
