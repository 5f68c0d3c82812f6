/**
 * Issue 11 item 4: symbolic links inside the spool are not followed. A
 * spool directory that is a link (state/<b> pointing at another user's
 * directory holding a forged state that redirects a message; tmp/ pointing
 * elsewhere) is refused with exit 77 and nothing is read, written or
 * delivered through it; the check runs at every open and again at every
 * flusher start (an agent's spool stays open for days). The entry lock
 * directory on tmpfs is re-checked at each flush too: one that turned
 * foreign under a running process is replaced, with a warning. Real links,
 * real binaries, a real smarthost on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import fsSync from 'node:fs';
import path from 'node:path';
import { startCaptureServer } from '../support/capture-server.js';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { makeHomeInBase } from '../support/home.js';
import { runCli, SENDMAIL } from '../support/cli.js';
import { bucketOf } from '../../src/model/queue-id.js';
import { enqueueMessage, openSpool, spoolLayout, statePath } from '../../src/spool/index.js';
import { entryLockDir, messageBucketDir, stateBucketDir } from '../../src/spool/paths.js';
import { allBuckets } from '../../src/model/queue-id.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const message = 'From: list@example.org\r\nSubject: hi\r\n\r\nHello.\r\n';

/** A directory outside the home, as another user's would be (given to uid 65534 when we are root). */
async function foreignDir(base: string, name: string): Promise<string> {
  const dir = path.join(base, name);
  await fs.mkdir(dir, { mode: 0o755 });
  return dir;
}

async function giveAway(dir: string): Promise<void> {
  if (!isRoot) return;
  for (const name of await fs.readdir(dir)) await fs.chown(path.join(dir, name), 65534, 65534);
  await fs.chown(dir, 65534, 65534);
}

test('state/<bucket> as a symbolic link to a directory with a forged state: refused with exit 77, nothing delivered through it', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { base, home } = await makeHomeInBase(t, { smarthost: server.url, from: 'ada@example.org' });
  const spool = await openSpool(home);
  const { id, state } = await enqueueMessage(spool, { from: 'ada@example.org', recipients: ['bob@example.net'], message });
  const bucketDir = path.dirname(statePath(spool, id));

  // Another user's directory, with a state for the same id sending the message to them.
  const other = await foreignDir(base, 'mallory');
  const forged = { ...state, recipients: state.recipients.map((r) => ({ ...r, address: 'mallory@example.test' })) };
  await fs.writeFile(path.join(other, `${id}.json`), JSON.stringify(forged));
  await giveAway(other);
  await fs.rename(bucketDir, path.join(base, 'real-bucket'));
  await fs.symlink(other, bucketDir);

  // (The sendmail command checks only the buckets it writes into: see the tests below.)
  for (const [args, bin] of [[['flush'], undefined], [['status'], undefined]] as const) {
    const result = await runCli([...args], { home, input: message, ...(bin ? { bin } : {}) });
    assert.equal(result.code, 77, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, new RegExp(`spool directory ${bucketDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is a symbolic link \\(to ${other.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\): refusing to follow it`));
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
  }
  assert.equal(server.messages.length, 0, 'nothing went out, to mallory least of all');
  assert.deepEqual(await fs.readdir(other), [`${id}.json`], 'nothing written into the other directory');
});

test('a link that appears under a spool opened long ago (the agent) is refused at the next flush start', async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const spool = await openSpool(home);
  const { id } = await enqueueMessage(spool, { from: 'ada@example.org', recipients: ['bob@example.net'], message });
  const bucketDir = path.dirname(statePath(spool, id));
  const elsewhere = `${home}-elsewhere-${bucketOf(id)}`;
  t.after(() => fs.rm(elsewhere, { recursive: true, force: true }));
  await fs.rename(bucketDir, elsewhere);
  await fs.symlink(elsewhere, bucketDir);
  // openSpool is cached in this process, as in the agent: the flush must look again.
  await assert.rejects(flushQueue({ home, events: new FlushEvents() }), (err: { code?: string; exitCode?: number }) => {
    assert.equal(err.code, 'E_SPOOL_SYMLINK');
    assert.equal(err.exitCode, 77);
    return true;
  });
  assert.equal(server.messages.length, 0);
  // The instance lock was released: with the link replaced by the real directory, the next flush delivers.
  await fs.rm(bucketDir);
  await fs.rename(elsewhere, bucketDir);
  const result = await flushQueue({ home, events: new FlushEvents() });
  assert.equal(result.outcome, 'done');
  assert.equal(server.messages.length, 1);
});

test('tmp/ as a symbolic link: sendmail refuses with exit 77 and writes nothing through it', async (t) => {
  const { base, home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  await openSpool(home);
  const tmp = spoolLayout(home).tmp;
  const other = await foreignDir(base, 'mallory-tmp');
  await fs.chmod(other, 0o777);
  await fs.rmdir(tmp);
  await fs.symlink(other, tmp);
  const result = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: message });
  assert.equal(result.code, 77, result.stderr);
  assert.match(result.stderr, /spool directory .*\/spool\/tmp is a symbolic link/);
  assert.deepEqual(await fs.readdir(other), []);
});

/** Replaces every msg/<b> (or state/<b>) with a link into `other`, whichever bucket an enqueue draws. */
async function linkEveryBucket(home: string, kind: 'msg' | 'state', other: string): Promise<string[]> {
  const spool = spoolLayout(home);
  const links: string[] = [];
  for (const bucket of allBuckets()) {
    const dir = kind === 'msg' ? messageBucketDir(spool, bucket) : stateBucketDir(spool, bucket);
    const target = path.join(other, bucket);
    await fs.mkdir(target, { mode: 0o777 });
    await fs.chmod(target, 0o777);
    await fs.rmdir(dir);
    await fs.symlink(target, dir);
    links.push(dir);
  }
  return links;
}

async function filesBelow(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => !d.isDirectory()).map((d) => d.name);
}

for (const kind of ['msg', 'state'] as const) {
  test(`sendmail (its enqueue-only check): ${kind}/<bucket> as a symbolic link is refused with exit 77 and nothing is written through it`, async (t) => {
    const { base, home } = await makeHomeInBase(t, { from: 'ada@example.org' });
    await openSpool(home);
    const other = await foreignDir(base, `mallory-${kind}`);
    await linkEveryBucket(home, kind, other);
    const result = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: message });
    assert.equal(result.code, 77, result.stderr);
    assert.match(result.stderr, new RegExp(`spool directory .*/spool/${kind}/[0-9a-f] is a symbolic link \\(to ${other}/[0-9a-f]\\): refusing to follow it`));
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
    assert.deepEqual(await filesBelow(other), [], 'nothing written into the other directory');
    assert.deepEqual(await fs.readdir(spoolLayout(home).tmp), [], 'nothing left in tmp/');
  });
}

test('sendmail leaves the directories it does not write into to the flusher, which refuses a link among them before reading anything', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { base, home } = await makeHomeInBase(t, { smarthost: server.url, from: 'ada@example.org' });
  await openSpool(home);
  const corrupt = spoolLayout(home).corrupt;
  const other = await foreignDir(base, 'mallory-corrupt');
  await fs.rmdir(corrupt);
  await fs.symlink(other, corrupt);
  const queued = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: message });
  assert.equal(queued.code, 0, queued.stderr);
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 77, flush.stderr);
  assert.match(flush.stderr, /spool directory .*\/spool\/corrupt is a symbolic link/);
  assert.equal(server.messages.length, 0);
  assert.deepEqual(await fs.readdir(other), []);
});

test('in one process, an enqueue-only open does not stand for the full check: a later full open looks at every directory', async (t) => {
  const { base, home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  await openSpool(home);
  const layout = spoolLayout(home);
  const other = await foreignDir(base, 'mallory-journal');
  await fs.rmdir(layout.journal);
  await fs.symlink(other, layout.journal);
  // A fresh home path for this process's cache: the same directory through another name.
  const alias = `${home}-alias`;
  await fs.symlink(home, alias);
  t.after(() => fs.rm(alias, { force: true }));
  const spool = await openSpool(alias, { only: 'enqueue' });
  const { id } = await enqueueMessage(spool, { from: 'ada@example.org', recipients: ['bob@example.net'], message });
  assert.ok(fsSync.existsSync(statePath(layout, id)), 'queued through the enqueue-only open');
  await assert.rejects(openSpool(alias), (err: { code?: string; exitCode?: number }) => {
    assert.equal(err.code, 'E_SPOOL_SYMLINK');
    assert.equal(err.exitCode, 77);
    return true;
  });
});

test("the entry lock directory is re-checked at each flush: one that turned foreign under a running process is replaced, with a warning", async (t) => {
  const { server, home } = await smarthostAndHome(t);
  const spool = await openSpool(home);
  const link = entryLockDir(spool);
  // Where the locks live now: the tmpfs directory, or one of ours made for the test where there is no /dev/shm.
  let target: string;
  if (fsSync.lstatSync(link).isSymbolicLink()) {
    target = fsSync.readlinkSync(link);
  } else {
    target = `${home}-locks`;
    await fs.mkdir(target, { mode: 0o700 });
    await fs.rmdir(link);
    await fs.symlink(target, link);
  }
  t.after(() => fs.rm(target, { recursive: true, force: true }));
  const first = await flushQueue({ home, events: new FlushEvents() });
  assert.equal(first.outcome, 'done');
  assert.ok(fsSync.lstatSync(link).isSymbolicLink(), 'a trusted target is kept');

  // The directory goes (logind at logout) and someone else's takes its name, open to all.
  await fs.rm(target, { recursive: true });
  await fs.mkdir(target, { mode: 0o777 });
  await fs.chmod(target, 0o777);
  if (isRoot) await fs.chown(target, 65534, 65534);
  await enqueueMessage(spool, { from: 'ada@example.org', recipients: ['bob@example.net'], message });
  const events = new FlushEvents();
  const warnings: string[] = [];
  events.on('warning', (w) => warnings.push(w));
  const second = await flushQueue({ home, events });
  assert.equal(second.outcome, 'done');
  assert.equal(server.messages.length, 1);
  const why = isRoot ? 'it belongs to uid 65534' : 'its mode is 0777';
  assert.ok(
    warnings.some((w) => w === `entry lock directory ${target} is not a private directory of yours (${why}): entry locks now live in ${link}`),
    warnings.join('\n'),
  );
  const stat = fsSync.lstatSync(link);
  assert.ok(stat.isDirectory() && !stat.isSymbolicLink(), 'the locks moved to a real directory in the spool');
  assert.deepEqual(await fs.readdir(target), [], 'no lock was made in the foreign directory');
});
