/**
 * The send ledger's failure latch (src/spool/send-ledger.ts), with a real
 * failing fsync: the LD_PRELOAD fault (test/support/fsync-fault.ts) makes
 * the fsync of accounts/<name>.sent fail with EIO while a flag file
 * exists. After one failed fsync the kernel may have dropped the lines
 * written before it, and a later fsync that succeeds would not bring them
 * back: so once an append failed, every later append of that ledger must
 * fail too, even when the disk answers again, or a reservation would be
 * reported durable that is not, and the sending limit could be overrun
 * after a power cut. A fresh ledger (the next flush) writes normally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome } from '../support/home.js';
import { ROOT } from '../support/cli.js';
import { fsyncFaultForTests } from '../support/fsync-fault.js';
import { openSpool, readSendLedger } from '../../src/spool/index.js';

const fault = fsyncFaultForTests();

// Runs in a child (LD_PRELOAD applies from process start): each step's outcome, as the flusher would see it.
const CHILD = `import fs from 'node:fs';
  import { openSpool, SendLedger } from ${JSON.stringify(path.join(ROOT, 'src/spool/index.ts'))};
  const [home, flag] = process.argv.slice(1);
  const spool = await openSpool(home);
  const outcome = (p) => p.then(() => 'durable', (err) => err.code ?? String(err));
  const now = Date.now();
  const ledger = await SendLedger.open(spool, 'work', now, 86_400_000);
  const steps = {};
  steps.failing = await outcome(ledger.append({ at: now, recipients: 1 }));
  fs.unlinkSync(flag); // the disk answers again
  steps.afterFailure = await outcome(ledger.append({ at: now + 1, recipients: 2 }));
  steps.concurrent = await Promise.all([1, 2].map((n) => outcome(ledger.append({ at: now + 2, recipients: n }))));
  ledger.close();
  const fresh = await SendLedger.open(spool, 'work', now, 86_400_000);
  steps.freshLedger = await outcome(fresh.append({ at: now + 3, recipients: 3 }));
  fresh.close();
  console.log(JSON.stringify(steps));`;

test('after a failed fsync, a later append of the same ledger does not report durable, though the disk answers again', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const flag = path.join(home, 'fail-now');
  await fs.writeFile(flag, '');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, home, flag], {
    env: { ...process.env, ...fault.env('/accounts/work.sent', flag, { files: true }) },
    cwd: ROOT,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    failing: 'EIO',
    afterFailure: 'EIO',
    concurrent: ['EIO', 'EIO'],
    // The fault is really off now: only the latch made the appends above fail.
    freshLedger: 'durable',
  });
  // The lines are in the file (written, just not known durable): the limit counts them, erring toward sending less.
  assert.equal(readSendLedger(spool, 'work').length, 5);
});
