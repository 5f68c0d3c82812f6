/**
 * Issue 11 item 6: every file-system error the spool can meet becomes a
 * sentence and a sysexits code, never "internal error" with a stack. A
 * spool on a small tmpfs remounted read-only (root only: mount; otherwise
 * skipped with the reason printed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli, SENDMAIL } from '../support/cli.js';
import { enqueueMessage, openSpool, removeEntryLockTarget } from '../../src/spool/index.js';
import { releaseDirHandles } from '../../src/spool/dir-handles.js';
import { reportError } from '../../src/report-error.js';
import { PassThrough } from 'node:stream';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

test('a read-only spool: flush, status and sendmail say "read-only file system" with exit 73, no stack', { skip: isRoot ? false : 'needs root to mount a tmpfs; CI runs the suite as root' }, async (t) => {
  const { home: base, cleanup } = await makeTempHome();
  const home = path.join(base, 'ro');
  await fs.mkdir(home, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', home]);
  t.after(async () => {
    removeEntryLockTarget(home);
    releaseDirHandles(); // this process's enqueues keep the bucket directories open for their next fsync
    execFileSync('umount', [home]);
    await cleanup();
  });
  await writeConfig(home, { smarthost: 'smtp://127.0.0.1:9', from: 'ada@example.org' });
  const spool = await openSpool(home);
  await enqueueMessage(spool, { from: 'ada@example.org', recipients: ['bob@example.net'], message: 'Subject: x\r\n\r\nhi\r\n' });
  execFileSync('mount', ['-o', 'remount,ro', home]);
  for (const [args, bin] of [[['flush'], undefined], [['bob@example.net'], SENDMAIL]] as const) {
    const result = await runCli([...args], { home, ...(bin ? { bin } : {}), input: 'Subject: x\n\nhi\n' });
    assert.equal(result.code, 73, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, /read-only file system/);
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
  }
  const status = await runCli(['status'], { home });
  assert.doesNotMatch(status.stderr, /internal error|\n\s+at /);
  assert.ok(status.code === 0 || status.code === 73, status.stderr);
});

test('any system error that reaches the top is a sentence with its sysexits code, not a stack', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const eacces = Object.assign(new Error("EACCES: permission denied, open '/x/spool/msg/3/id'"), { code: 'EACCES', syscall: 'open', path: '/x/spool/msg/3/id', errno: -13 });
  assert.equal(reportError(eacces, 'bulkmailer', out), 77);
  const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', syscall: 'fsync', errno: -5 });
  assert.equal(reportError(eio, 'bulkmailer', out), 74);
  assert.doesNotMatch(text, /internal error|\n\s+at /);
  assert.match(text, /cannot open \/x\/spool\/msg\/3\/id: permission denied/);
  assert.match(text, /cannot fsync: input\/output error/);
});
