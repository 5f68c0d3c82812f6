/**
 * Issue 11 item 3: one unreadable or corrupt state file never stops the
 * rest. Six entries, one whose state file is chmod 000 and one whose state
 * is garbage: the four others reach a real smarthost on 127.0.0.1; the
 * corrupt one is quarantined (message kept); the unreadable one is named
 * and left as it is; status, mailq and show go on listing, status and
 * doctor name what they skipped; exit codes as docs/cli.md says.
 *
 * chmod 000 does not stop root, and CI runs as root: then the commands run
 * as uid 65534 (nobody) over a home given to that uid, so the permission
 * really is denied; as anyone else they run as themselves. The same
 * skipping for files out of place (a directory or a symbolic link where a
 * state or message file belongs) needs no second user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { BULKMAILER, collect, SENDMAIL, type RunResult } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, messagePath, openSpool, removeEntryLockTarget, settleCommits, spoolLayout, statePath } from '../../src/spool/index.js';
import { entryLockDir } from '../../src/spool/paths.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
/** Who runs the commands: someone chmod 000 applies to. */
const USER = isRoot ? 65534 : null;

const message = (n: string) => `From: list@example.org\r\nSubject: post ${n}\r\nMessage-ID: <${n}@example.org>\r\n\r\nHello ${n}.\r\n`;

function run(home: string, args: string[], bin = BULKMAILER): Promise<RunResult> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, NO_COLOR: '1', BULKMAILER_HOME: home, HOME: home },
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(USER === null ? {} : { uid: USER, gid: USER }),
  });
  return collect(child);
}

/** Gives the home (made by this process) to USER: every file, and a fresh entry lock directory of theirs. */
async function handOver(home: string): Promise<void> {
  if (USER === null) return;
  removeEntryLockTarget(home);
  await fs.rm(entryLockDir(spoolLayout(home)), { recursive: true, force: true });
  const walk = async (dir: string): Promise<void> => {
    await fs.chown(dir, USER, USER);
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(file);
      else await fs.lchown(file, USER, USER);
    }
  };
  await walk(home);
}

/** Six entries, a.. f, one recipient each (a@x.test ...). */
async function sixEntries(home: string): Promise<Record<string, string>> {
  const spool = await openSpool(home);
  const ids: Record<string, string> = {};
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
    ids[name] = (await enqueueMessage(spool, { from: 'list@example.org', recipients: [`${name}@x.test`], message: message(name) })).id;
  }
  // The enqueues' after-work (pending names unlinked within 100 ms) done before the test walks tmp/ (handOver).
  await settleCommits();
  return ids;
}

test('a chmod 000 state file and a garbage one: the other four are delivered, the corrupt one quarantined, the unreadable one named and kept', async (t) => {
  const { server, home } = await smarthostAndHome(t, { from: 'list@example.org' });
  const ids = await sixEntries(home);
  const spool = spoolLayout(home);
  const [locked, corrupt] = [ids.a!, ids.b!];
  await fs.writeFile(statePath(spool, corrupt), '{"version": 1, "id": garbage');
  await fs.chmod(statePath(spool, locked), 0o000);
  await handOver(home);

  // Listing goes on past both, and names them at the end.
  const status = await run(home, ['status']);
  assert.equal(status.code, 0, status.stderr);
  const rows = status.stdout.split('\n').filter((l) => /^[0-9a-z]{17}\s/.test(l)).map((l) => l.slice(0, 17));
  assert.deepEqual(rows.sort(), [ids.c, ids.d, ids.e, ids.f].sort());
  const last = status.stdout.trimEnd().split('\n').at(-1)!;
  assert.match(last, new RegExp(`^not listed: 2 entries: .*cannot read state of ${locked}: permission denied`));
  assert.match(last, new RegExp(`state file of ${corrupt} is invalid.*\\(the next flush moves it to spool/corrupt/\\)`));
  const mailq = await run(home, ['-bp'], SENDMAIL);
  assert.equal(mailq.code, 0, mailq.stderr);
  assert.match(mailq.stdout, /in 4 Requests\./);
  const show = await run(home, ['show', ids.c!]);
  assert.equal(show.code, 0, show.stderr);
  const showLocked = await run(home, ['show', locked]);
  assert.equal(showLocked.code, 77, showLocked.stderr);
  assert.match(showLocked.stderr, /permission denied/);

  // Delivery goes on past both too.
  const flush = await run(home, ['flush']);
  assert.equal(flush.code, 77, `exit 77: all else delivered, one entry could not be read\n${flush.stdout}${flush.stderr}`);
  assert.deepEqual(server.messages.map((m) => m.to[0]).sort(), ['c@x.test', 'd@x.test', 'e@x.test', 'f@x.test']);
  assert.match(flush.stderr, new RegExp(`skipped ${locked}, left in the queue: cannot read state of ${locked}: permission denied`));
  assert.match(flush.stderr, new RegExp(`quarantined ${corrupt}`));
  assert.match(flush.stdout + flush.stderr, /1 entry quarantined .*1 entry skipped: cannot be read/);
  // The corrupt entry is in corrupt/ whole (message, state, note); the unreadable one is where it was.
  const quarantined = (await fs.readdir(spool.corrupt)).filter((n) => n.startsWith(corrupt)).map((n) => n.replace(/^\w+\.\d+\./, ''));
  assert.deepEqual(quarantined.sort(), ['json', 'msg', 'reason.txt']);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [locked]);
  await fs.access(messagePath(spool, locked));

  const after = await run(home, ['status']);
  assert.equal(after.code, 0, after.stderr);
  assert.match(after.stdout.trimEnd().split('\n').at(-1)!, new RegExp(`^not listed: 1 entry: cannot read state of ${locked}`));
  const doctor = await run(home, ['doctor']);
  assert.match(doctor.stdout, new RegExp(`\\[FAIL\\] every queued entry readable: 1 entry cannot be read and will not be delivered: cannot read state of ${locked}: permission denied`));

  // Given back its permission, it goes out: nothing was lost.
  await fs.chmod(statePath(spool, locked), 0o600);
  const again = await run(home, ['flush']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(server.messages.map((m) => m.to[0]).sort(), ['a@x.test', 'c@x.test', 'd@x.test', 'e@x.test', 'f@x.test']);
});

test('a directory or a symbolic link where a state or message file belongs: skipped and named (exit 74), never followed, the rest delivered', async (t) => {
  const { server, home } = await smarthostAndHome(t, { from: 'list@example.org' });
  const ids = await sixEntries(home);
  const spool = spoolLayout(home);
  const elsewhere = path.join(home, 'elsewhere');
  await fs.mkdir(elsewhere);
  // a: a directory in the state file's place.
  await fs.rm(statePath(spool, ids.a!));
  await fs.mkdir(statePath(spool, ids.a!));
  // b: the state file is a link to a state (redirected to mallory) kept elsewhere.
  const forged = JSON.parse(await fs.readFile(statePath(spool, ids.b!), 'utf8'));
  forged.recipients[0].address = 'mallory@x.test';
  await fs.writeFile(path.join(elsewhere, 'b.json'), JSON.stringify(forged));
  await fs.rm(statePath(spool, ids.b!));
  await fs.symlink(path.join(elsewhere, 'b.json'), statePath(spool, ids.b!));
  // c: the message file is a link to other bytes.
  await fs.writeFile(path.join(elsewhere, 'c.msg'), message('not-ours'));
  await fs.rm(messagePath(spool, ids.c!));
  await fs.symlink(path.join(elsewhere, 'c.msg'), messagePath(spool, ids.c!));
  await handOver(home);

  const flush = await run(home, ['flush']);
  assert.equal(flush.code, 74, flush.stdout + flush.stderr);
  assert.deepEqual(server.messages.map((m) => m.to[0]).sort(), ['d@x.test', 'e@x.test', 'f@x.test']);
  assert.ok(server.messages.every((m) => !m.raw.toString().includes('not-ours')), 'no bytes through a link');
  for (const name of ['a', 'b', 'c'] as const) assert.match(flush.stderr, new RegExp(`skipped ${ids[name]}, left in the queue`));
  assert.deepEqual((await listStateFileIdsIncludingFinished(spool)).sort(), [ids.a, ids.b, ids.c].sort());
  const status = await run(home, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout.trimEnd().split('\n').at(-1)!, /^not listed: 2 entries: /);
});
