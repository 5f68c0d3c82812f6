/**
 * The sendmail command run by a parent that leaves SIGCHLD blocked, as mutt
 * does for its `sendmail` program: the launcher (a dash script on Debian)
 * must still return Node's exit status instead of waiting forever for a
 * SIGCHLD that cannot arrive. python3 blocks the signal and execs the
 * command, as mutt's child does. Fails by the run's cap (a hang) or by a
 * status other than 0 with nothing queued.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, SENDMAIL } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';

const BLOCK_SIGCHLD_AND_EXEC =
  'import os, signal, sys\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})\nos.execv(sys.argv[1], sys.argv[1:])\n';

test('sendmail with SIGCHLD blocked by its parent (mutt) queues the message and exits 0', async () => {
  const home = await makeTempHome();
  try {
    const message = 'From: ann@example.org\nTo: bob@example.net\nSubject: mutt\n\nbody\n';
    const result = await runCli(['-c', BLOCK_SIGCHLD_AND_EXEC, SENDMAIL, '-oem', '-oi', '--', 'bob@example.net'], {
      home: home.home,
      bin: 'python3',
      input: message,
      timeoutMs: 30_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const buckets = await fs.readdir(path.join(home.home, 'spool', 'msg'));
    const stored: string[] = [];
    for (const bucket of buckets) stored.push(...(await fs.readdir(path.join(home.home, 'spool', 'msg', bucket))));
    assert.equal(stored.length, 1);
  } finally {
    await home.cleanup();
  }
});
