/**
 * The enqueue's commit in one fsync round (src/spool/enqueue.ts) and its
 * repair (src/spool/repair.ts): a real `bulkmailer enqueue` killed with
 * SIGKILL at the crash points around the fsync round, then a real flush to
 * a capture smarthost; and pending commits as a crash leaves them, spoiled
 * the ways a crash can spoil them (a short message, unwritten blocks, a
 * torn state), of a live writer, of a writer from before this boot, and
 * one whose rename both names survived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runCli } from '../support/cli.js';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { makeTempHome } from '../support/home.js';
import { crc32 } from '../../src/spool/crc32.js';
import { enqueueMessage, listEntryIds, messagePath, openSpool, readEntryState, repairSpool, statePath, type Spool } from '../../src/spool/index.js';

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

/** Turns a committed entry back into what a crash just before the commit's rename leaves: its state as a pending commit of `pid`. */
async function uncommit(spool: Spool, id: string, pid: number): Promise<string> {
  const crc = crc32(await fs.readFile(messagePath(spool, id)));
  const pending = path.join(spool.tmp, `${id}.${pid}.${crc.toString(16).padStart(8, '0')}.commit`);
  await fs.rename(statePath(spool, id), pending);
  return pending;
}

test('killed after the fsync round, before the commit\'s rename: no entry; the next flush completes the commit and delivers the message once, byte for byte', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const crashed = await runCli(ENQUEUE, { home, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-fsync-round' } });
  assert.equal(crashed.signal, 'SIGKILL', `exit ${crashed.code}: ${crashed.stderr}`);
  assert.equal(crashed.stdout, '', 'no queue id printed');
  const spool = await openSpool(home);
  assert.deepEqual(await listEntryIds(spool), [], 'no entry visible before repair');
  const tmp = await filesIn(spool.tmp);
  assert.equal(tmp.length, 1, tmp.join(' '));
  assert.match(tmp[0]!, /^[0-9a-z]+\.\d+\.[0-9a-f]{8}\.commit$/);
  const id = tmp[0]!.split('.')[0]!;
  assert.deepEqual(await allMessages(spool), [id]);
  assert.ok((await fs.readFile(messagePath(spool, id))).equals(MESSAGE), 'stored as given (it has its Date and Message-ID)');
  const status = await runCli(['status'], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout + status.stderr, /1 message whose queueing a crash interrupted/);

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.match(flushed.stderr, new RegExp(`a crash interrupted the queueing of ${id} .*repair completed it, and it is queued`));
  assert.equal(server.messages.length, 1);
  assert.equal(server.messages[0]!.from, 'list@example.org');
  assert.deepEqual(server.messages[0]!.to, ['bob@example.net']);
  assert.ok(server.messages[0]!.raw.equals(MESSAGE), 'the message arrives byte for byte');
  assert.deepEqual(await listEntryIds(spool), []);
  assert.deepEqual(await filesIn(spool.tmp), []);

  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(server.messages.length, 1, 'sent once');
});

test('killed before the fsync round (after the message\'s rename): nothing is queued, tmp/ is empty, nothing is sent', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const crashed = await runCli(ENQUEUE, { home, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-message-rename' } });
  assert.equal(crashed.signal, 'SIGKILL', `exit ${crashed.code}: ${crashed.stderr}`);
  const spool = await openSpool(home);
  assert.equal((await allMessages(spool)).length, 1, 'the message took its name');
  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.doesNotMatch(flushed.stderr, /interrupted the queueing/);
  assert.deepEqual(await listEntryIds(spool), []);
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.equal(server.messages.length, 0);
  // Its message is an orphan, removed once old enough (an enqueue in another process may sit before its commit).
  const report = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(report.orphanMessagesRemoved, 1);
  assert.deepEqual(await allMessages(spool), []);
});

test('a pending commit whose message is short, whose CRC does not match, or whose state is torn is removed; a whole one beside them is completed', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const spool = await openSpool(home);
  const dead = await deadPid();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await enqueueMessage(spool, { from: 'list@example.org', recipients: [`r${i}@example.net`], message: MESSAGE })).id);
  const [whole, short, zeroed, torn] = ids as [string, string, string, string];
  for (const id of ids) await uncommit(spool, id, dead);
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
  assert.deepEqual(await listEntryIds(spool), []);

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.deepEqual(server.messages.map((m) => m.to), [['r0@example.net']], 'only the whole one is sent');
  assert.ok(server.messages[0]!.raw.equals(MESSAGE));
  assert.match(flushed.stderr, new RegExp(`queueing of ${whole} `));
  for (const id of [short, zeroed, torn]) assert.doesNotMatch(flushed.stderr, new RegExp(id));
  assert.deepEqual(await filesIn(spool.tmp), []);
  assert.deepEqual(await listEntryIds(spool), []);
  // Their messages are orphans now, removed by the existing rule.
  const report = await repairSpool(spool, Date.now() + 3_600_000);
  assert.equal(report.orphanMessagesRemoved, 3);
  assert.deepEqual(await allMessages(spool), []);
});

test('a pending commit of a live writer is left alone; written before this boot, or older than a day, it is completed though its pid lives', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) ids.push((await enqueueMessage(spool, { from: 'a@example.org', recipients: [`r${i}@example.net`], message: MESSAGE })).id);
  const [beforeBoot, old] = ids as [string, string];
  const states = await Promise.all(ids.map((id) => readEntryState(spool, id)));
  // Ours: this test's process is alive.
  const pendings = [await uncommit(spool, beforeBoot, process.pid), await uncommit(spool, old, process.pid)];

  const live = await repairSpool(spool, Date.now());
  assert.deepEqual(live.commitsCompleted, []);
  assert.equal(live.tmpRemoved, 0);
  assert.deepEqual((await filesIn(spool.tmp)).length, 2, 'left alone');
  assert.deepEqual(await listEntryIds(spool), []);

  // Its pid may belong to another process after a reboot: a file from before this boot has a dead writer.
  const bootTime = Date.now() - os.uptime() * 1000;
  const then = new Date(bootTime - 3_600_000);
  await fs.utimes(pendings[0]!, then, then);
  const afterBoot = await repairSpool(spool, Date.now());
  assert.deepEqual(afterBoot.commitsCompleted, [beforeBoot]);
  assert.deepEqual(await listEntryIds(spool), [beforeBoot]);
  assert.deepEqual(await readEntryState(spool, beforeBoot), states[0], 'the state, unchanged');

  // Past the day limit, as every tmp/ file.
  const late = await repairSpool(spool, Date.now() + 25 * 3_600_000);
  assert.deepEqual(late.commitsCompleted, [old]);
  assert.deepEqual((await listEntryIds(spool)).sort(), [beforeBoot, old].sort());
  assert.deepEqual(await filesIn(spool.tmp), []);
});

test('a pending commit whose entry exists (both names survived the rename) is removed, and the entry is left as it is', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const { id } = await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: MESSAGE });
  const state = await fs.readFile(statePath(spool, id), 'utf8');
  const pending = await uncommit(spool, id, await deadPid());
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
