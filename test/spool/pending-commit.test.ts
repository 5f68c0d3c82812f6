/**
 * The enqueue's commit in one fsync round, by hard link with the pending
 * name removed once the entry's name is durable (src/spool/enqueue.ts), and
 * its repair (src/spool/repair.ts): a real `bulkmailer enqueue` killed with
 * SIGKILL at the crash points around the link, then a real flush to a
 * capture smarthost; pending commits as a power cut leaves them (another
 * boot's), whole or spoiled the ways a crash can spoil them (a short
 * message, unwritten blocks, a torn state); a live writer's; one whose entry
 * exists; the fallback where link(2) is refused; the orphan rule's ctime;
 * the listener's after-work; the listener's spare files (spare-files.ts):
 * used, dropped when stale or removed, none made beside a concurrent
 * enqueue, and a real `bulkmailer listen`
 * killed at the crash points of its second enqueue, the one that uses them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runCli, startListen } from '../support/cli.js';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { makeTempHome } from '../support/home.js';
import fsSync from 'node:fs';
import { crc32 } from '../../src/spool/crc32.js';
import { bootTag } from '../../src/spool/lock-file.js';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { openRaw, sendRawMessage } from '../support/smtp-client.js';
import { enqueueMessage, listEntryIds, listStateFileIdsIncludingFinished, messagePath, openSpool, readEntryState, repairSpool, settleCommits, statePath, type Spool } from '../../src/spool/index.js';
import { makeSpareFiles, takeSpareFile } from '../../src/spool/spare-files.js';

/** CRLF lines, a body past the 16 KiB gathering threshold, a line that needs dot-stuffing, 8-bit bytes. */
const MESSAGE = Buffer.concat([
  Buffer.from('From: list@example.org\r\nTo: bob@example.net\r\nSubject: interrupted\r\nDate: Tue, 01 Dec 2026 07:00:00 +0000\r\nMessage-ID: <interrupted@example.org>\r\n\r\n'),
  Buffer.from('.a line that starts with a dot\r\n'),
  Buffer.from(Array.from({ length: 400 }, (_, i) => `line ${i} of a body long enough to be written in more than one piece\r\n`).join('')),
  Buffer.from('caf\xc3\xa9\r\n', 'latin1'),
]);

const ENQUEUE = ['enqueue', '-f', 'list@example.org', 'bob@example.net'];

async function filesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

async function allMessages(spool: Spool): Promise<string[]> {
  const found: string[] = [];
  for (const bucket of await filesIn(spool.msg)) found.push(...(await filesIn(path.join(spool.msg, bucket))));
  return found;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  return child.pid!;
}

/** A boot tag that is not this boot's: a pending commit a power cut left before the reboot. */
const OTHER_BOOT = bootTag() === '0badb007' ? '1badb007' : '0badb007';

/** Turns a committed entry back into what a crash just before the commit's link leaves: its state as a pending commit of `pid` in `boot`. */
async function uncommit(spool: Spool, id: string, pid: number, boot: string): Promise<string> {
  await settleCommits();
  const crc = crc32(await fs.readFile(messagePath(spool, id)));
  const pending = path.join(spool.tmp, `${id}.${pid}.${boot}.${crc.toString(16).padStart(8, '0')}.commit`);
  await fs.rename(statePath(spool, id), pending);
  return pending;
}

/** A fresh spool with one entry turned back into a pending commit of `pid` in `boot`. */
async function oneUncommitted(t: { after(fn: () => Promise<void>): void }, pid: number, boot: string) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE });
  const state = await fs.readFile(statePath(spool, id), 'utf8');
  return { spool, id, state, pending: await uncommit(spool, id, pid, boot) };
}

const PENDING = /^([0-9a-z]+)\.(\d+)\.([0-9a-f]{8}|unknown)\.[0-9a-f]{8}\.commit$/;

test('killed after the fsync round, before the commit\'s link (never acknowledged): the flush queues nothing, sends nothing, and empties tmp/', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const crashed = await runCli(ENQUEUE, { home, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-fsync-round' } });
  assert.equal(crashed.signal, 'SIGKILL', `exit ${crashed.code}: ${crashed.stderr}`);
  assert.equal(crashed.stdout, '', 'no queue id printed');
  const spool = await openSpool(home);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'no entry');
  const tmp = await filesIn(spool.tmp);
  assert.equal(tmp.length, 1, tmp.join(' '));
  const name = PENDING.exec(tmp[0]!);
  assert.ok(name, tmp[0]);
  assert.equal(name[3], bootTag(), 'named with this boot');
  const status = await runCli(['status'], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout + status.stderr, /not listed yet/, 'status counts by repair\'s rule: this one is not queued');

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.doesNotMatch(flushed.stderr, /interrupted the queueing/);
  assert.equal(server.messages.length, 0, 'nothing sent');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'nothing queued');
  assert.deepEqual(await filesIn(spool.tmp), []);
  // Its message is an orphan, removed once its rename is old enough.
  const report = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(report.orphanMessagesRemoved, 1);
  assert.deepEqual(await allMessages(spool), []);
});

test('killed after the commit\'s link, before its after-work: the entry is queued, delivered once, and repair removes the pending name', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const crashed = await runCli(ENQUEUE, { home, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-commit-link' } });
  assert.equal(crashed.signal, 'SIGKILL', `exit ${crashed.code}: ${crashed.stderr}`);
  const spool = await openSpool(home);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 1);
  const tmp = await filesIn(spool.tmp);
  assert.equal(tmp.length, 1, 'the pending name stays until state/<bucket> is fsynced');
  assert.equal(PENDING.exec(tmp[0]!)?.[1], ids[0]);

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.doesNotMatch(flushed.stderr, /interrupted the queueing/, 'nothing to complete: it was queued');
  assert.equal(server.messages.length, 1);
  assert.ok(server.messages[0]!.raw.equals(MESSAGE), 'the message arrives byte for byte');
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.equal((await runCli(['flush'], { home })).code, 0);
  assert.equal(server.messages.length, 1, 'sent once');
});

test('a one-shot enqueue leaves its pending name (its entry exists) for the next flush, which removes it and sends once', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const run = await runCli(ENQUEUE, { home, input: MESSAGE });
  assert.equal(run.code, 0, run.stderr);
  const spool = await openSpool(home);
  const [id] = await listEntryIds(spool);
  assert.deepEqual((await filesIn(spool.tmp)).map((n) => PENDING.exec(n)?.[1]), [id]);
  const status = await runCli(['status'], { home });
  assert.doesNotMatch(status.stdout + status.stderr, /not listed yet/, 'listed already');
  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.equal(server.messages.length, 1);
  assert.deepEqual(await filesIn(spool.tmp), []);
});

test('a pending commit of another boot with a whole message is completed and delivered once; a short, a bad-CRC and a torn one are removed and nothing of them is sent', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const spool = await openSpool(home);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@example.net`], message: MESSAGE })).id);
  const [whole, short, zeroed, torn] = ids as [string, string, string, string];
  // Its pid may be anyone's after the reboot: ours, alive, must not keep it waiting.
  for (const id of ids) await uncommit(spool, id, process.pid, OTHER_BOOT);
  // The size on disk short of the state's (a crash before the last blocks' metadata reached the disk).
  await fs.truncate(messagePath(spool, short), MESSAGE.length - 1);
  // The right size, one block never written (zeros where ext4 without a journal left no data).
  const spoiled = Buffer.from(MESSAGE);
  spoiled.fill(0, 4096, 8192);
  await fs.writeFile(messagePath(spool, zeroed), spoiled);
  // A state cut in the middle.
  const tornFile = (await filesIn(spool.tmp)).find((n) => n.startsWith(torn))!;
  const text = await fs.readFile(path.join(spool.tmp, tornFile), 'utf8');
  await fs.writeFile(path.join(spool.tmp, tornFile), text.slice(0, Math.floor(text.length / 2)));
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  const status = await runCli(['status'], { home });
  assert.match(status.stdout + status.stderr, /not listed yet: 1 message whose queueing/, 'the whole one only, by repair\'s rule');

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.deepEqual(server.messages.map((m) => m.to), [['r0@example.net']], 'only the whole one is sent');
  assert.ok(server.messages[0]!.raw.equals(MESSAGE));
  assert.match(flushed.stderr, new RegExp(`a crash interrupted the queueing of ${whole} .*repair completed it, and it is queued`));
  for (const id of [short, zeroed, torn]) assert.doesNotMatch(flushed.stderr, new RegExp(id));
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.equal((await runCli(['flush'], { home })).code, 0);
  assert.equal(server.messages.length, 1, 'sent once');
  // Their messages are orphans now, removed by the existing rule.
  const report = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(report.orphanMessagesRemoved, 3);
  assert.deepEqual(await allMessages(spool), []);
});

test('a live writer\'s pending commit (this boot, its pid alive) is left alone, its message too; past a day it is removed, not completed', async (t) => {
  const { spool, id } = await oneUncommitted(t, process.pid, bootTag());
  // An hour on: past the orphan age, but its message belongs to an enqueue in progress.
  const live = await repairSpool(spool, Date.now() + 3_600_000);
  assert.deepEqual(live.commitsCompleted, []);
  assert.equal(live.tmpRemoved, 0);
  assert.equal(live.orphanMessagesRemoved, 0, 'its message is not an orphan');
  assert.equal((await filesIn(spool.tmp)).length, 1, 'left alone');
  assert.deepEqual(await allMessages(spool), [id]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);

  const late = await repairSpool(spool, Date.now() + 25 * 3_600_000);
  assert.deepEqual(late.commitsCompleted, []);
  assert.equal(late.tmpRemoved, 1);
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a dead writer\'s pending commit of this boot without its entry is removed, not completed (its link never ran: never acknowledged)', async (t) => {
  const { spool } = await oneUncommitted(t, await deadPid(), bootTag());
  const report = await repairSpool(spool, Date.now());
  assert.deepEqual(report.commitsCompleted, []);
  assert.equal(report.tmpRemoved, 1);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.deepEqual(await filesIn(spool.tmp), []);
});

test('a pending commit whose entry exists is removed, and the entry is left as it is', async (t) => {
  const { spool, id, state, pending } = await oneUncommitted(t, await deadPid(), OTHER_BOOT);
  await fs.copyFile(pending, statePath(spool, id));
  // The entry moved on since (a flush recorded an attempt): the pending state is older, and must not come back.
  const moved = state.replace('"attempts":0', '"attempts":1');
  assert.notEqual(moved, state);
  await fs.writeFile(statePath(spool, id), moved);
  const report = await repairSpool(spool, Date.now());
  assert.deepEqual(report.commitsCompleted, []);
  assert.equal(report.tmpRemoved, 1);
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.equal(await fs.readFile(statePath(spool, id), 'utf8'), moved);
});

test('where link(2) is refused (EPERM, as some FUSE and SMB mounts do), the commit falls back to a rename: the entry is queued and no pending name stays', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const calls: string[] = [];
  t.mock.method(fsSync, 'linkSync', (from: string) => {
    calls.push(path.basename(from));
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  });
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE });
  assert.equal(calls.length, 1, 'the link was tried');
  assert.equal(PENDING.exec(calls[0]!)?.[1], id);
  assert.deepEqual(await listEntryIds(spool), [id]);
  assert.deepEqual(await filesIn(spool.tmp), [], 'renamed, so nothing is left for the after-work');
  assert.ok((await fs.readFile(messagePath(spool, id))).equals(MESSAGE));
});

test('a pending commit removed by another process\'s repair before the link: the enqueue fails clearly, nothing is queued', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const real = fsSync.linkSync;
  t.mock.method(fsSync, 'linkSync', (from: string, to: string) => {
    fsSync.unlinkSync(from);
    return real(from, to);
  });
  await assert.rejects(
    enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE }),
    /another process's repair removed this enqueue's pending commit .*: not queued/,
  );
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('a link that finds the entry\'s name taken (EEXIST) fails the enqueue and removes the pending commit, not the message under that name', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  t.mock.method(fsSync, 'linkSync', () => {
    throw Object.assign(new Error('EEXIST: file already exists, link'), { code: 'EEXIST' });
  });
  await assert.rejects(enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE }), /exists already/);
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.equal((await allMessages(spool)).length, 1, 'the message under the taken name is left');
});

test('an orphan is aged by its rename into msg/ (ctime), not its last write: an old mtime does not get it removed', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const crashed = await runCli(ENQUEUE, { home, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-message-rename' } });
  assert.equal(crashed.signal, 'SIGKILL', `exit ${crashed.code}: ${crashed.stderr}`);
  const spool = await openSpool(home);
  const [id] = await allMessages(spool);
  // A slow sender's last chunk written an hour before its end of data, the rename just now.
  const hourAgo = new Date(Date.now() - 3_600_000);
  await fs.utimes(messagePath(spool, id!), hourAgo, hourAgo);
  const report = await repairSpool(spool, Date.now());
  assert.equal(report.orphanMessagesRemoved, 0);
  assert.deepEqual(await allMessages(spool), [id]);
  const later = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(later.orphanMessagesRemoved, 1);
});

test('after many listener enqueues, once the listener is idle, tmp/ holds no pending name (the after-work ran) and every entry is whole', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const listener = await startListener({
    home,
    settings: { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null, maxConnections: 20, idleTimeoutMs: 60_000 },
    nudge: false,
  });
  t.after(() => listener.close());
  const sessions = await Promise.all(Array.from({ length: 6 }, () => openRaw(listener.port, { closeAfter: t })));
  await Promise.all(
    sessions.map(async (client, s) => {
      for (let i = 0; i < 10; i++) {
        const reply = await sendRawMessage(client, 'ada@example.org', [`r${s}-${i}@example.net`], `Subject: ${s}-${i}\r\n\r\nhello ${s} ${i}\r\n`);
        assert.equal(reply.code, 250, reply.text);
      }
    }),
  );
  await settleCommits();
  const spool = await openSpool(home);
  assert.deepEqual(await filesIn(spool.tmp), []);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 60);
  for (const id of ids) assert.equal((await fs.stat(messagePath(spool, id))).size, (await readEntryState(spool, id))!.size);
});

/** A spare file's name (spare-files.ts): tmp/spare-<n>.<pid>.spare. */
const SPARE = /^spare-[0-9a-z]+\.(\d+)\.spare$/;

async function inode(file: string): Promise<number> {
  return (await fs.stat(file)).ino;
}

test('a spool opened with spareFiles: an enqueue makes the next one\'s two files during its round, the next writes its message into one and renames the other to its pending commit; settleCommits removes the rest; a plain spool makes none', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home, { spareFiles: true });
  const first = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE });
  const spares = (await filesIn(spool.tmp)).filter((n) => SPARE.test(n));
  assert.equal(spares.length, 2, (await filesIn(spool.tmp)).join(' '));
  assert.equal(SPARE.exec(spares[0]!)?.[1], String(process.pid), 'named with the writer\'s pid, for repair');
  for (const name of spares) {
    const stat = await fs.stat(path.join(spool.tmp, name));
    assert.equal(stat.size, 0);
    assert.equal(stat.mode & 0o777, 0o600);
  }
  const spareInodes = await Promise.all(spares.map((n) => inode(path.join(spool.tmp, n))));
  assert.ok(!spareInodes.includes(await inode(messagePath(spool, first.id))), 'the first enqueue had no spare');

  const second = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['c@example.net'], message: MESSAGE });
  const used = [await inode(messagePath(spool, second.id)), await inode(statePath(spool, second.id))];
  assert.deepEqual(used.sort(), spareInodes.sort(), 'the message written into one spare, the entry\'s state into the other');
  const next = (await filesIn(spool.tmp)).filter((n) => SPARE.test(n));
  assert.equal(next.length, 2, 'the second enqueue made the third one\'s');
  assert.deepEqual(next.filter((n) => spares.includes(n)), []);
  for (const { id } of [first, second]) {
    assert.ok((await fs.readFile(messagePath(spool, id))).equals(MESSAGE));
    assert.equal((await readEntryState(spool, id))!.size, MESSAGE.length);
  }
  await settleCommits();
  assert.deepEqual(await filesIn(spool.tmp), [], 'no pending name, no spare');

  // A library caller's spool (and a flush's, for its DSNs): no spare, ever.
  const plain = await openSpool(home);
  await enqueueMessage(plain, { from: 'a@example.org', recipients: ['d@example.net'], message: MESSAGE });
  await enqueueMessage(plain, { from: 'a@example.org', recipients: ['e@example.net'], message: MESSAGE });
  assert.deepEqual((await filesIn(plain.tmp)).filter((n) => SPARE.test(n)), []);
  await settleCommits();
  assert.equal((await listEntryIds(spool)).length, 4);
});

test('a spool opened with spareFiles: two concurrent enqueues make no spare (their rounds are shared already), and both commit', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home, { spareFiles: true });
  // Streamed: each enqueue awaits its message's chunks, so both have joined before either reaches its
  // fsync round, and neither has left (its round is on the thread pool) when the other reaches its own.
  async function* streamed(): AsyncGenerator<Buffer> {
    yield MESSAGE;
  }
  const results = await Promise.all(
    ['b@example.net', 'c@example.net'].map((to) => enqueueMessage(spool, { from: 'a@example.org', recipients: [to], message: streamed() })),
  );
  assert.deepEqual((await filesIn(spool.tmp)).filter((n) => SPARE.test(n)), [], 'no spare made beside a concurrent enqueue');
  for (const { id } of results) {
    assert.ok((await fs.readFile(messagePath(spool, id))).equals(MESSAGE));
    assert.equal((await readEntryState(spool, id))!.size, MESSAGE.length);
  }
  await settleCommits();
  assert.deepEqual(await filesIn(spool.tmp), []);
});

test('spares whose files were removed under the process (a repair) are not written to: the enqueue creates its own files and succeeds; stale spares are dropped, not used', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home, { spareFiles: true });
  await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE });
  const spares = (await filesIn(spool.tmp)).filter((n) => SPARE.test(n));
  assert.equal(spares.length, 2);
  for (const name of spares) await fs.rm(path.join(spool.tmp, name));
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['c@example.net'], message: MESSAGE });
  assert.ok((await fs.readFile(messagePath(spool, id))).equals(MESSAGE));
  assert.equal((await readEntryState(spool, id))!.size, MESSAGE.length);
  await settleCommits();
  assert.deepEqual(await filesIn(spool.tmp), []);

  // Made two hours ago (a listener idle since): past the age a spare is kept, far below repair's day.
  const twoHoursAgo = Date.now() - 2 * 3_600_000;
  makeSpareFiles(spool, twoHoursAgo);
  assert.equal((await filesIn(spool.tmp)).length, 2);
  assert.equal(takeSpareFile(spool), null, 'stale: not handed out');
  assert.deepEqual(await filesIn(spool.tmp), [], 'and removed');
  makeSpareFiles(spool);
  const fresh = takeSpareFile(spool);
  assert.ok(fresh !== null && SPARE.test(path.basename(fresh.path)));
  fsSync.closeSync(fresh.fd);
  await fs.rm(fresh.path);
  await settleCommits();
  assert.deepEqual(await filesIn(spool.tmp), []);
});

for (const [point, queued] of [
  ['enqueue-after-message-rename', false],
  ['enqueue-after-fsync-round', false],
  ['enqueue-after-commit-link', true],
] as const) {
  test(`a real listener killed at ${point} of its second message (spares in use): the first is delivered once, the second ${queued ? 'once (its link ran)' : 'never (never acknowledged)'}, and repair leaves tmp/ empty`, async (t) => {
    const { server, home } = await smarthostAndHome(t);
    const listener = await startListen(['--port', '0'], { home, env: { BULKMAILER_CRASH_AT: `${point}@2` } });
    t.after(() => void listener.child.kill('SIGKILL'));
    const client = await openRaw(listener.port, { closeAfter: t });
    const first = await sendRawMessage(client, 'list@example.org', ['one@example.net'], MESSAGE);
    assert.equal(first.code, 250, first.text);
    await assert.rejects(sendRawMessage(client, 'list@example.org', ['two@example.net'], MESSAGE), /connection closed/);
    const ended = await listener.result;
    assert.equal(ended.signal, 'SIGKILL', `exit ${ended.code}: ${ended.stderr}`);
    const spool = await openSpool(home);
    const left = await filesIn(spool.tmp);
    assert.ok(left.some((n) => SPARE.exec(n)?.[1] === String(listener.child.pid)), `the killed listener's spares are there: ${left.join(' ')}`);

    const flushed = await runCli(['flush'], { home });
    assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
    assert.doesNotMatch(flushed.stderr, /interrupted the queueing/);
    const sent = server.messages.map((m) => m.to.join(' ')).sort();
    assert.deepEqual(sent, queued ? ['one@example.net', 'two@example.net'] : ['one@example.net']);
    for (const m of server.messages) assert.ok(m.raw.equals(MESSAGE), 'byte for byte');
    assert.deepEqual(await filesIn(spool.tmp), [], 'spares and pending names removed (their writer is dead)');
    assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
    assert.equal((await runCli(['flush'], { home })).code, 0);
    assert.equal(server.messages.length, sent.length, 'each sent once');
    // The unacknowledged message is an orphan, removed once its rename is old enough.
    await repairSpool(spool, Date.now() + 3_600_000);
    assert.deepEqual(await allMessages(spool), []);
  });
}
