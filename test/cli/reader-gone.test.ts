/**
 * Every command is quiet and ends with its own exit code when the reader
 * of its output goes away (`bulkmailer config list | head -3`): the pipe's
 * read end is closed before the child writes anything, so its first write
 * fails with EPIPE.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { collect, spawnCli, SENDMAIL } from '../support/cli.js';
import { makeTempHome, type TempHome } from '../support/home.js';
import { makeMixedSpool } from '../support/spool-fixtures.js';

let temp: TempHome;
before(async () => {
  temp = await makeTempHome();
  await makeMixedSpool(temp.home);
});
after(async () => temp.cleanup());

async function runWithReaderGone(args: string[], bin?: string) {
  const child = spawnCli(args, { home: temp.home, bin });
  // Close our end of the child's stdout at once: nobody will ever read it.
  child.stdout!.destroy();
  return collect(child);
}

const cases: { name: string; args: string[]; bin?: string }[] = [
  { name: 'config list', args: ['config', 'list'] },
  { name: 'status', args: ['status'] },
  { name: 'status --json', args: ['status', '--json'] },
  { name: 'log', args: ['log'] },
  { name: '--help', args: ['--help'] },
  { name: 'sendmail -bp', args: ['-bp'], bin: SENDMAIL },
];

for (const c of cases) {
  test(`${c.name} | (reader gone): exit 0, nothing on stderr`, async () => {
    const result = await runWithReaderGone(c.args, c.bin);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
  });
}

test('hold with its reader gone still holds every entry it was given', async () => {
  const listed = await collect(spawnCli(['status', '--json'], { home: temp.home }));
  const ids = (JSON.parse(listed.stdout) as { id: string }[]).map((e) => e.id);
  const result = await runWithReaderGone(['hold', ...ids]);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
  const after = JSON.parse((await collect(spawnCli(['status', '--json'], { home: temp.home }))).stdout) as { held: boolean }[];
  assert.ok(after.length > 0);
  assert.ok(after.every((e) => e.held));
});
