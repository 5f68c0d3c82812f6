/**
 * The sendmail start-up snapshot keeps nothing of the machine or process
 * that built it: module-level code runs at `node --build-snapshot` time
 * and its values are frozen into the blob (docs/performance.md), so a uid,
 * home, host name, time zone or working directory read there would be the
 * builder's in every run. A root-built blob (`npm install -g` as root)
 * once refused every user's second message: spool-dirs.ts kept root's uid
 * and found the spool it had just made for the user "not yours" (77).
 *
 * Two checks. A blob built from dist's snapshot script with the builder
 * made to look like another machine (uid and gid one above ours, another
 * host name, HOME, XDG_DATA_HOME, BULKMAILER_HOME, LOGNAME, time zone and
 * working directory: stubbed or set before the script runs, the stubs put
 * back by a deserialize callback) must queue twice, as us, where we are,
 * each run with random bytes of its own (no queue id's random part is one
 * the build's bytes from /dev/urandom could have made: the build records
 * every byte it read there, so a pool kept in the image is caught whatever
 * bucket each run draws its id in): needs no root. And, as root (CI runs the suite as root), the real thing:
 * a blob built by root, run twice as uid 65534 on a home of theirs; without
 * root, the same blob run twice as this uid instead (still a blob built by
 * another uid, as far as its code can tell).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { collect, ROOT, SENDMAIL, type RunResult } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { removeEntryLockTarget } from '../../src/spool/index.js';

const SCRIPT = path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.cjs');
const FROM_SNAPSHOT = 'started from the start-up snapshot';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const NOBODY = 65534;
const BUILD_HOST = 'build-host.invalid';
/** The file in a blob's directory with the random bytes its build read (recordBuildRandom). */
const BUILD_RANDOM = 'build-random.hex';
/** The queue id's random alphabet (queue-id.ts): a byte gives BASE32[byte & 31]. */
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * Runs before dist's snapshot script in the build: the builder reports
 * another uid, gid and host name to everything that evaluates there, and
 * the run gets the real ones back (deserialize callbacks run before the
 * snapshot's main).
 */
function pretendPreamble(uid: number, gid: number): string {
  return `(() => {
  const v8 = require('node:v8');
  const os = require('node:os');
  const real = { getuid: process.getuid, geteuid: process.geteuid, getgid: process.getgid, getegid: process.getegid, hostname: os.hostname };
  Object.assign(process, { getuid: () => ${uid}, geteuid: () => ${uid}, getgid: () => ${gid}, getegid: () => ${gid} });
  os.hostname = () => ${JSON.stringify(BUILD_HOST)};
  v8.startupSnapshot.addDeserializeCallback(() => {
    Object.assign(process, { getuid: real.getuid, geteuid: real.geteuid, getgid: real.getgid, getegid: real.getegid });
    os.hostname = real.hostname;
  });
})();
`;
}

/**
 * Runs before dist's snapshot script in the build: every byte the build
 * reads from /dev/urandom (the snapshot's node:crypto, snapshot-crypto.ts)
 * is written to `file`, one read per line in hex, when the image is
 * written; fs is given back its own functions then, so no run records.
 */
function recordBuildRandom(file: string): string {
  return `(() => {
  const v8 = require('node:v8');
  const fs = require('node:fs');
  const real = { openSync: fs.openSync, readSync: fs.readSync, closeSync: fs.closeSync };
  const urandom = new Set();
  const reads = [];
  fs.openSync = (...args) => {
    const fd = real.openSync(...args);
    if (args[0] === '/dev/urandom') urandom.add(fd);
    return fd;
  };
  fs.readSync = (fd, buffer, offset, length, ...rest) => {
    const n = real.readSync(fd, buffer, offset, length, ...rest);
    if (urandom.has(fd)) reads.push(Buffer.from(buffer.subarray(offset ?? 0, (offset ?? 0) + n)).toString('hex'));
    return n;
  };
  fs.closeSync = (fd) => {
    urandom.delete(fd);
    return real.closeSync(fd);
  };
  v8.startupSnapshot.addSerializeCallback(() => {
    Object.assign(fs, real);
    fs.writeFileSync(${JSON.stringify(file)}, reads.join('\\n'));
  });
})();
`;
}

/** Every 7-character start of a queue id's random part the build's random bytes (recordBuildRandom) could give: one per byte offset. */
async function buildRandomPrefixes(file: string): Promise<Set<string>> {
  const reads = (await fs.readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
  // At least the queue id pool's refill (1024 bytes) by the warm-up: else the recording saw nothing and proves nothing.
  assert.ok(reads.some((hex) => hex.length >= 2048), `the build read no queue id pool from /dev/urandom: ${reads.length} reads`);
  const prefixes = new Set<string>();
  for (const hex of reads) {
    const bytes = Buffer.from(hex, 'hex');
    for (let at = 0; at + 7 <= bytes.length; at++) {
      let prefix = '';
      for (let i = at; i < at + 7; i++) prefix += BASE32[bytes[i]! & 31];
      prefixes.add(prefix);
    }
  }
  return prefixes;
}

/** `node --build-snapshot` on dist's snapshot script (after `preamble`), in `dir`, with a builder's environment unlike the run's. */
async function buildBlob(dir: string, preamble: string): Promise<string> {
  const script = path.join(dir, 'snapshot.cjs');
  await fs.writeFile(script, recordBuildRandom(path.join(dir, BUILD_RANDOM)) + preamble + (await fs.readFile(SCRIPT, 'utf8')));
  const blob = path.join(dir, 'snapshot.blob');
  const buildCwd = path.join(dir, 'build-cwd');
  await fs.mkdir(buildCwd);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent/build-home',
    XDG_DATA_HOME: '/nonexistent/build-xdg',
    BULKMAILER_HOME: '/nonexistent/build-bulkmailer',
    LOGNAME: 'builder',
    USER: 'builder',
    TZ: 'Pacific/Kiritimati', // UTC+14: a Date header from the build's zone cannot pass for UTC
  };
  const made = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], { cwd: buildCwd, env, encoding: 'utf8' });
  assert.equal(made.status, 0, `node --build-snapshot: ${made.stderr}`);
  await fs.chmod(dir, 0o755);
  await fs.chmod(blob, 0o644);
  return blob;
}

interface RunAs {
  uid?: number;
  gid?: number;
  /** The run's HOME and working directory; the spool goes where $HOME says (no BULKMAILER_HOME). */
  home: string;
}

/** One message through the blob, the way cron's sendmail runs: no -f, no config, the run's own environment. */
async function sendThroughBlob(blob: string, as: RunAs): Promise<RunResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: as.home, TZ: 'UTC' };
  const child = spawn(process.execPath, ['--snapshot-blob', blob, SENDMAIL, '-v', 'bob@example.net'], {
    cwd: as.home,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(as.uid === undefined ? {} : { uid: as.uid, gid: as.gid ?? as.uid }),
  });
  return collect(child, 'Subject: built elsewhere\n\nbody\n');
}

/** The queued entries' states and messages, read as files (as root, openSpool would refuse another user's spool). */
async function queued(spoolRoot: string): Promise<Array<{ state: { id: string; from: string }; message: string }>> {
  const found = [];
  for (const bucket of await fs.readdir(path.join(spoolRoot, 'state'))) {
    for (const name of await fs.readdir(path.join(spoolRoot, 'state', bucket))) {
      const id = name.replace(/\.[^.]*$/, '');
      const state = JSON.parse(await fs.readFile(path.join(spoolRoot, 'state', bucket, name), 'utf8')) as { id: string; from: string };
      const messages = (await fs.readdir(path.join(spoolRoot, 'msg', bucket))).filter((m) => m.startsWith(id));
      assert.equal(messages.length, 1, `${id}: ${messages.join(', ')}`);
      found.push({ state, message: await fs.readFile(path.join(spoolRoot, 'msg', bucket, messages[0]!), 'utf8') });
    }
  }
  return found;
}

/** Two messages queued by two runs of `blob`, both from the snapshot, both in the run's own spool, with the run's user, host and zone. */
async function assertQueuesTwice(blob: string, as: RunAs, user: string): Promise<void> {
  for (const n of [1, 2]) {
    const run = await sendThroughBlob(blob, as);
    assert.equal(run.code, 0, `run ${n}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(FROM_SNAPSHOT), `run ${n}`);
  }
  const entries = await queued(path.join(as.home, '.local', 'share', 'bulkmailer', 'spool'));
  assert.equal(entries.length, 2);
  // Random bytes drawn at build time (the warm-up's queue id) are not in the image: each run draws its own.
  // Comparing the two runs' ids alone would not do: with the build's pool in the image both draw from
  // the same bytes, but each in a bucket of its own, whose acceptance of a draw differs (queue-id.ts).
  const fromBuild = await buildRandomPrefixes(path.join(path.dirname(blob), BUILD_RANDOM));
  const [first, second] = entries.map(({ state }) => state.id.slice(9, 16));
  for (const prefix of [first!, second!]) {
    assert.ok(!fromBuild.has(prefix), `an id's random part ${prefix} comes from the build's random bytes: they were in the image`);
  }
  assert.notEqual(first, second, 'the two ids share their random part');
  for (const { state, message } of entries) {
    assert.equal(state.from, `${user}@${os.hostname()}`);
    assert.match(message, /^Date: .* \+0000$/m, 'the run\'s time zone (UTC), not the build\'s (+1400)');
    assert.ok(!message.includes(BUILD_HOST) && !message.includes('builder'), message);
  }
}

test('a blob built under another uid, gid, host name, HOME, XDG_DATA_HOME, BULKMAILER_HOME, time zone and cwd queues twice with the run\'s own (no root needed)', async (t) => {
  const { home: base, cleanup } = await makeTempHome();
  // First the spool's entry-lock directory in /dev/shm: deeper in the home than makeTempHome's cleanup looks.
  t.after(async () => {
    removeEntryLockTarget(path.join(base, 'home', '.local', 'share', 'bulkmailer'));
    await cleanup();
  });
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  const blob = await buildBlob(base, pretendPreamble(uid + 1, gid + 1));
  const home = path.join(base, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  await assertQueuesTwice(blob, { home }, os.userInfo().username);
});

test(isRoot
  ? 'as root: a blob built by root queues twice for uid 65534 in their own home'
  : 'not root (CI runs as root, then a real second uid): a blob built as another uid queues twice for this one', async (t) => {
  const { home: base, cleanup } = await makeTempHome();
  // First the spool's entry-lock directory in /dev/shm: deeper in the home than makeTempHome's cleanup looks.
  t.after(async () => {
    removeEntryLockTarget(path.join(base, 'home', '.local', 'share', 'bulkmailer'));
    await cleanup();
  });
  const home = path.join(base, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  if (isRoot) {
    const blob = await buildBlob(base, '');
    await fs.chown(home, NOBODY, NOBODY);
    await assertQueuesTwice(blob, { home, uid: NOBODY, gid: NOBODY }, nameOf(NOBODY));
  } else {
    const blob = await buildBlob(base, pretendPreamble(0, 0));
    await assertQueuesTwice(blob, { home }, os.userInfo().username);
  }
});

/** The login name of `uid` in /etc/passwd (what os.userInfo() says in a process of theirs). */
function nameOf(uid: number): string {
  const made = spawnSync('id', ['-nu', String(uid)], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  return made.stdout.trim();
}
