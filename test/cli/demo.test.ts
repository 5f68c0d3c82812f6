/**
 * `bulkmailer demo` runs to completion as a child process and leaves nothing
 * behind: its temporary home is gone, and neither the flush it killed nor
 * any other child of it is still running. Also judgeDelivery, the rule the
 * demo's summary applies (missing members, duplicates only from the one
 * transaction in flight at the kill).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { makeTempHome } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { judgeDelivery } from '../../src/demo/run-demo.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line mentions `needle` (Linux /proc). */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) found.push(Number(name));
  }
  return found;
}

test('demo runs to completion and leaves nothing behind', async () => {
  // The demo ignores BULKMAILER_HOME (it makes its own); this home only proves it is untouched.
  const userHome = await makeTempHome();
  try {
    const run = await runCli(['demo', '--recipients', '120'], { home: userHome.home, timeoutMs: 120_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const out = run.stdout;
    for (let k = 1; k <= 7; k++) assert.match(out, new RegExp(`^\\[${k}/7\\] `, 'm'));
    assert.match(out, /^queued \S+: \d+ bytes, 120 recipients/m);
    assert.match(out, /smarthost unreachable \(smtp:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\); 120 recipients wait, nothing attempted/);
    assert.match(out, /0\/120 sent/);
    assert.match(out, /\*\*\* flush \(pid \d+\) killed with SIGKILL after the smarthost accepted \d+ recipients/);
    assert.match(out, /^missing: none$/m);
    assert.match(out, /^demo complete: every member got the post/m);
    assert.match(out, /^time taken: /m);

    const home = /^temporary home: (\S+) \(removed at the end\)$/m.exec(out)?.[1];
    assert.ok(home, 'the demo names its temporary home');
    assert.equal(await fs.stat(home).then(() => true, () => false), false, `${home} is gone`);
    assert.match(out, new RegExp(`^removed ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));

    const killedPid = Number(/flush \(pid (\d+)\) killed/.exec(out)?.[1]);
    assert.equal(isAlive(killedPid), false);
    assert.deepEqual(await processesMentioning(home), [], 'no process of the demo is left');

    // The user's home was not touched.
    assert.deepEqual(await fs.readdir(userHome.home), []);
  } finally {
    await userHome.cleanup();
  }
});

test('judgeDelivery: missing members, and duplicates only from the transaction in flight at the kill', () => {
  const members = ['a', 'b', 'c', 'd'];
  const t = (at: number, to: string[]) => ({ at, to });
  const clean = judgeDelivery(members, [t(1, ['a', 'b']), t(2, ['c', 'd'])], null);
  assert.deepEqual([clean.missing, clean.duplicates, clean.duplicatesInCrashWindow], [[], [], true]);

  const window = judgeDelivery(members, [t(1, ['a', 'b']), t(2, ['c']), t(5, ['c', 'd'])], 3);
  assert.deepEqual([window.duplicates, window.duplicatesInCrashWindow, window.captured], [['c'], true, 5]);

  const outside = judgeDelivery(members, [t(1, ['a', 'b']), t(2, ['c']), t(5, ['a', 'd'])], 3);
  assert.equal(outside.duplicatesInCrashWindow, false);

  const lost = judgeDelivery(members, [t(1, ['a', 'b'])], null);
  assert.deepEqual(lost.missing, ['c', 'd']);
});
