/**
 * src/spool/crash-points.ts reads BULKMAILER_CRASH_AT once, at the first
 * crash point a process meets (an enqueue passes three, a transaction
 * two), not at every point: a child process on the built dist/ sets the
 * variable after its first point and lives on; forgetCrashSetting (what
 * the sendmail start-up snapshot's build calls) makes the next point read
 * it again, and it dies there; `POINT@N` still counts its hits. Every crash
 * test sets the variable for a child process only, which reads it at its
 * first point (test/spool/pending-commit.test.ts, crash-journal, the
 * sendmail snapshot's own crash points in sendmail-snapshot.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, collect } from '../support/cli.js';

const MODULE = pathToFileURL(path.join(ROOT, 'dist', 'spool', 'crash-points.js')).href;

/** Runs `body` in a child on the built module, with BULKMAILER_CRASH_AT as given (absent: unset). */
function runChild(body: string, crashAt?: string) {
  const script = `
    const { writeSync } = await import('node:fs');
    const { crashPoint, forgetCrashSetting } = await import(${JSON.stringify(MODULE)});
    const say = (text) => writeSync(1, text + '\\n');
    ${body}
  `;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.BULKMAILER_CRASH_AT;
  if (crashAt !== undefined) env.BULKMAILER_CRASH_AT = crashAt;
  return collect(spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env }));
}

test('the crash setting is read at the first crash point, once: set later it arms nothing until forgotten', async () => {
  const result = await runChild(
    `
    crashPoint('flush-after-data');
    process.env.BULKMAILER_CRASH_AT = 'flush-after-data';
    crashPoint('flush-after-data');
    say('lived on: the setting was read at the first point');
    forgetCrashSetting();
    crashPoint('flush-after-data');
    say('not killed');
    `,
  );
  assert.equal(result.stdout, 'lived on: the setting was read at the first point\n', result.stderr);
  assert.equal(result.signal, 'SIGKILL');
});

test('POINT@N kills at the Nth hit of that point, other points not counted', async () => {
  const result = await runChild(
    `
    crashPoint('enqueue-after-fsync-round');
    crashPoint('enqueue-after-commit-link');
    crashPoint('enqueue-after-fsync-round');
    say('two hits');
    crashPoint('enqueue-after-fsync-round');
    say('not killed');
    `,
    'enqueue-after-fsync-round@3',
  );
  assert.equal(result.stdout, 'two hits\n', result.stderr);
  assert.equal(result.signal, 'SIGKILL');
});
