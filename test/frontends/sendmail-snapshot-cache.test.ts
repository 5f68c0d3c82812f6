/**
 * The sendmail command's per-user start-up snapshot (src/sendmail-snapshot/,
 * the cache half of bin/bulkmailer-sendmail) in a copy of the built package
 * without dist's blob, as `npm install -g` leaves it: the first message
 * queues through the plain bundle and a blob appears in the cache
 * directory afterwards (built in the background), the next starts from it;
 * a burst takes one build marker (and, while it builds, costs each message
 * two stats); a cache directory or blob writable by
 * others, or a directory above it, is never loaded; a blob cut short or
 * from another Node falls back and the message is queued once (the second
 * rebuilt in the background); `bulkmailer sendmail-snapshot` builds one on
 * demand and `bulkmailer doctor` says which blob the command uses; two
 * Node versions used in turn (a second, real one: this Node's binary with
 * another version, test/support/snapshot-blob.ts) each start from their
 * own blob without rebuilding, and one upgraded in place gets a new blob
 * and loses its old one, and two copies of one version at different
 * paths each keep their own; while builds keep failing, a message looks
 * at the failure marker only (no listing of the cache, no new attempt);
 * a cache directory that may not be trusted is refused before it is
 * listed (0755 passes, as in the launcher); -bp, --version and mailq with
 * a per-user blob and dist's start Node twice, not three times (the
 * snapshot declines with 15, which no other blob is tried after); the
 * build is decided from the arguments sendmailMain parsed; a build or a
 * load of the blob that hangs is killed and fails the build, and one that
 * cannot be written out (fsync's ENOSPC) leaves no temp file.
 * Runs on each Node CI runs (.ci/with-node 22|24 npx tsx --test ...).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseSendmailArgs } from '../../src/frontends/sendmail/parse-args.js';
import { nodeBinaryTag } from '../../src/sendmail-snapshot/cache.js';
import { makeSecretWork, seedTokenFlags } from '../../src/sendmail-snapshot/hash-seed.js';
import { listEntryIds, messagePath, openSpool } from '../../src/spool/index.js';
import { collect, ROOT, runCli } from '../support/cli.js';
import { otherNodeVersion, pretendOtherNodeVersion } from '../support/snapshot-blob.js';
import { makeTempHome } from '../support/home.js';

const FROM_SNAPSHOT = 'started from the start-up snapshot';
const BODY = 'The body, which must arrive whole.\n';
const MESSAGE = `Subject: cached snapshot\n\n${BODY}`;
const ARGS = ['-v', '-f', 'ada@example.org', 'bob@example.net'];
const BUNDLE_ID = (await fs.readFile(path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.id'), 'utf8')).trim();
const THIS_NODE = `sendmail-${BUNDLE_ID}-v${process.versions.node}-${process.arch}-${nodeBinaryTag()}-`; // the name's start for this Node binary

type BuildModule = typeof import('../../src/sendmail-snapshot/build.js');

interface Install {
  root: string;
  sendmail: string;
  cli: string;
  /** The cache's base ($XDG_CACHE_HOME) and the directory bulkmailer keeps blobs in. */
  xdg: string;
  cache: string;
  env: Record<string, string>;
}

/** A copy of the built package (bin/, dist/ without its blob, package.json; node_modules linked), with its own cache dir. */
async function registryInstall(dir: string): Promise<Install> {
  const root = path.join(dir, 'pkg');
  await fs.mkdir(root, { recursive: true });
  await fs.cp(path.join(ROOT, 'bin'), path.join(root, 'bin'), { recursive: true });
  await fs.cp(path.join(ROOT, 'dist'), path.join(root, 'dist'), { recursive: true });
  await fs.rm(path.join(root, 'dist', 'bundle', 'sendmail', 'snapshot.blob'));
  await fs.copyFile(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
  await fs.symlink(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  const xdg = path.join(dir, 'xdg-cache');
  await fs.mkdir(xdg, { mode: 0o700 });
  return {
    root,
    sendmail: path.join(root, 'bin', 'bulkmailer-sendmail'),
    cli: path.join(root, 'bin', 'bulkmailer'),
    xdg,
    cache: path.join(xdg, 'bulkmailer'),
    env: { XDG_CACHE_HOME: xdg, BULKMAILER_SNAPSHOT_CACHE: 'on' },
  };
}

/** A registry install in a fresh temp home, and the spool its messages go to; `dirs` are made in the home too. */
async function freshInstall(t: { after: (fn: () => Promise<void>) => void }, ...dirs: string[]): Promise<{ home: string; install: Install; spool: string; made: string[] }> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const made = dirs.map((d) => path.join(home, d));
  for (const dir of made) await fs.mkdir(dir);
  return { home, install: await registryInstall(path.join(home, 'install')), spool: path.join(home, 'spool'), made };
}

/** The start of this bundle's blob names for Node `version` (process.versions.node form) on this arch, and binary `node` if given. */
function blobPrefix(version: string, node?: string): string {
  return `sendmail-${BUNDLE_ID}-v${version}-${process.arch}-${node === undefined ? '' : `${nodeBinaryTag(node)}-`}`;
}

async function storedMessages(home: string): Promise<string[]> {
  const spool = await openSpool(home);
  return Promise.all((await listEntryIds(spool)).map((id) => fs.readFile(messagePath(spool, id), 'utf8')));
}

/** Sends one message through the launcher; `nodeDir`: the directory of the `node` it runs (default: this test's Node). */
async function send(install: Install, home: string, nodeDir?: string): Promise<{ fromSnapshot: boolean }> {
  const run =
    nodeDir === undefined
      ? await runCli(ARGS, { home, bin: install.sendmail, input: MESSAGE, env: install.env })
      : await collect(
          spawn(install.sendmail, ARGS, { env: { ...process.env, ...install.env, BULKMAILER_HOME: home, PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? ''}` }, stdio: ['pipe', 'pipe', 'pipe'] }),
          MESSAGE,
        );
  assert.equal(run.code, 0, run.stderr);
  // Nothing but our own -v lines: Node's complaint about a blob it refused does not reach the user.
  assert.deepEqual(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('bulkmailer-sendmail: ')), [], run.stderr);
  return { fromSnapshot: run.stderr.includes(FROM_SNAPSHOT) };
}

function linkOf(blob: string): string {
  return `${blob.slice(0, -'.blob'.length)}.node`;
}

async function cacheFiles(install: Install): Promise<string[]> {
  return (await fs.readdir(install.cache).catch(() => [] as string[])).sort();
}

/** Waits (polling; generous: a build takes seconds on a busy machine) until this Node's blob (or `prefix`'s) is there with its link and no build runs. */
async function builtBlob(install: Install, other?: string, prefix = THIS_NODE): Promise<string> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const files = await cacheFiles(install);
    const blob = files.find((f) => f.startsWith(prefix) && f.endsWith('.blob') && path.join(install.cache, f) !== other);
    const linked = blob !== undefined && files.includes(`${blob.slice(0, -'.blob'.length)}.node`);
    if (linked && !files.some((f) => f.endsWith('building'))) return path.join(install.cache, blob);
    assert.ok(!files.some((f) => f.endsWith('failed')), `a build failed: ${files.join(', ')}`);
    assert.ok(Date.now() < deadline, `no blob built; the cache holds: ${files.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls `done` until true (deadline generous: a build takes seconds on a busy machine). */
async function waitFor(done: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!(await done())) {
    assert.ok(Date.now() < deadline, `gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function doctorLine(install: Install, home: string): string {
  const run = spawnSync(process.execPath, [install.cli, 'doctor'], {
    env: { ...process.env, ...install.env, BULKMAILER_HOME: home, NO_COLOR: '1', BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' },
    encoding: 'utf8',
  });
  return run.stdout.split('\n').find((l) => l.includes('sendmail start-up snapshot')) ?? `(no line) ${run.stdout}${run.stderr}`;
}

/** Runs `fn`, noting each readdirSync and statSync it makes (a spy: the calls go through to the file system). */
function listingsAndStats<T>(fn: () => T): { result: T; seen: string[] } {
  const seen: string[] = [];
  const { readdirSync, statSync } = fsSync;
  Object.assign(fsSync, {
    readdirSync: (...args: Parameters<typeof readdirSync>) => (seen.push(`readdir ${String(args[0])}`), readdirSync(...args)),
    statSync: (...args: Parameters<typeof statSync>) => (seen.push(`stat ${String(args[0])}`), statSync(...args)),
  });
  try {
    return { result: fn(), seen };
  } finally {
    Object.assign(fsSync, { readdirSync, statSync });
  }
}

test('a registry install: the first message queues through the plain bundle, a blob is built in the background, the next message starts from it', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const spool = path.join(home, 'spool');
  assert.match(doctorLine(install, spool), /\[warn\] sendmail start-up snapshot: none usable/);
  assert.equal((await send(install, spool)).fromSnapshot, false);
  assert.equal((await storedMessages(spool)).length, 1, 'queued before any blob exists');
  const blob = await builtBlob(install);
  const stat = await fs.stat(blob);
  // Named by its V8 hash seed too (src/sendmail-snapshot/hash-seed.ts), which the launcher runs it with.
  assert.match(path.basename(blob), new RegExp(`^${THIS_NODE.replaceAll('.', '\\.')}seed[1-9][0-9]{0,17}n?-${stat.size}\\.blob$`));
  assert.equal(stat.mode & 0o777, 0o600);
  assert.equal((await fs.stat(install.cache)).mode & 0o777, 0o700);
  assert.deepEqual(await cacheFiles(install), [path.basename(blob), path.basename(linkOf(blob))], 'no marker or temp file left');
  assert.equal(await fs.realpath(linkOf(blob)), await fs.realpath(process.execPath), 'linked to the Node that built it');
  assert.equal((await send(install, spool)).fromSnapshot, true);
  assert.match(doctorLine(install, spool), new RegExp(`\\[ok  \\] sendmail start-up snapshot: ${blob.replaceAll('.', '\\.')} \\(per-user`));
  const stored = await storedMessages(spool);
  assert.equal(stored.length, 2);
  for (const m of stored) assert.ok(m.endsWith(`\n\n${BODY}`), m);
});

/** A registry install in a temp home, its own dist/sendmail-snapshot/build.js loaded, and the environment that points it at its cache. */
async function installWithBuild(t: { after: (fn: () => Promise<void>) => void }): Promise<{ install: Install; build: BuildModule; env: NodeJS.ProcessEnv }> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const build = (await import(path.join(install.root, 'dist', 'sendmail-snapshot', 'build.js'))) as BuildModule;
  return { install, build, env: { ...process.env, ...install.env } };
}

test('one build at a time: the O_EXCL marker turns a second start away, a built blob a third', async (t) => {
  const { install, build, env } = await installWithBuild(t);
  assert.equal(build.startBackgroundBuild(env), true);
  // What each message of a burst runs while the build does: two stats (the failure and build markers), no listing.
  const { result: second, seen } = listingsAndStats(() => build.startBackgroundBuild(env));
  assert.equal(second, false, 'a build runs: its marker is held');
  assert.deepEqual(seen, [`stat ${path.join(install.cache, `${THIS_NODE}failed`)}`, `stat ${path.join(install.cache, `${THIS_NODE}building`)}`]);
  assert.ok((await cacheFiles(install)).some((f) => f.endsWith('building')));
  await builtBlob(install);
  assert.equal(build.startBackgroundBuild(env), false, 'a blob built since this process started');
  assert.equal((await cacheFiles(install)).length, 2, 'the blob and its link');
});

/** The processes whose command line mentions `text` (a killed build must leave none). */
async function processesNaming(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(`${name}: ${cmdline.replace(/\0/g, ' ')}`);
  }
  return found;
}

test('a build or a load of the blob that hangs is killed after the timeout and fails the build: the failure marker, no temp file, no marker held, no process left', async (t) => {
  const { install, build, env } = await installWithBuild(t);
  const script = path.join(install.root, 'dist', 'bundle', 'sendmail', 'snapshot.cjs');
  const cases = [
    { name: 'node --build-snapshot never ends', script: 'for (;;);\n' },
    { name: 'the built blob, loaded, never ends', script: "require('v8').startupSnapshot.setDeserializeMainFunction(() => { for (;;); });\n" },
  ];
  for (const c of cases) {
    await fs.writeFile(script, c.script);
    // The hang never ends: the outcome does not depend on the machine's speed, only the test's length does.
    assert.throws(() => build.buildCachedSnapshot(env, { timeoutMs: 2_000 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_SNAPSHOT_BUILD', c.name);
      assert.match(err.message, /node did not finish in 2 s \(killed\)/, c.name);
      return true;
    });
    assert.deepEqual(await cacheFiles(install), [`${THIS_NODE}failed`], c.name);
    assert.match(await fs.readFile(path.join(install.cache, `${THIS_NODE}failed`), 'utf8'), /did not finish in 2 s/, c.name);
    assert.deepEqual(await processesNaming(install.cache), [], c.name);
  }
  assert.equal(build.BUILD_TIMEOUT_MS, 60_000);
});

test('a blob that cannot be written out (fsync fails: ENOSPC) fails the build and leaves no temp file', async (t) => {
  const { install, build, env } = await installWithBuild(t);
  // build.js calls node:fs's fsyncSync, the one this process shares: the file system's answer when it is full.
  const fsyncs = t.mock.method(fsSync, 'fsyncSync', () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, fsync'), { code: 'ENOSPC' });
  });
  assert.throws(() => build.buildCachedSnapshot(env), /cannot write it out: ENOSPC/);
  assert.equal(fsyncs.mock.callCount(), 1);
  assert.deepEqual(await cacheFiles(install), [`${THIS_NODE}failed`]);
  fsyncs.mock.restore();
  assert.ok(build.buildCachedSnapshot(env).bytes > 0, 'space back: it builds');
  assert.equal((await cacheFiles(install)).length, 2, 'the blob and its link');
});

test('with a V8 flag in NODE_OPTIONS (which Node 20 refuses a blob under) messages are queued from the per-user blob, and none starts a rebuild', async (t) => {
  const { install, spool } = await freshInstall(t);
  assert.equal((await send(install, spool)).fromSnapshot, false, 'no blob yet: the plain bundle');
  const blob = await builtBlob(install);
  const before = await cacheFiles(install);
  const flagged = { ...install, env: { ...install.env, NODE_OPTIONS: '--max-old-space-size=200' } };
  for (let i = 0; i < 3; i++) assert.equal((await send(flagged, spool)).fromSnapshot, true, `message ${i + 1}`);
  // A rebuild would have taken the marker (and, done, replaced the blob): the cache is as it was.
  assert.deepEqual(await cacheFiles(install), before);
  assert.ok(before.includes(path.basename(blob)));
  assert.equal((await storedMessages(spool)).length, 4);
});

test('a blob is not loaded from a cache directory, or below one, writable by others, nor when it is writable by others itself', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const spool = path.join(home, 'spool');
  const built = await runCli(['sendmail-snapshot'], { home: spool, env: install.env, bin: install.cli });
  assert.equal(built.code, 0, built.stderr);
  const blob = (await builtBlob(install));
  assert.match(built.stdout, new RegExp(`^built ${blob.replaceAll('.', '\\.')} `));
  assert.equal((await send(install, spool)).fromSnapshot, true, 'a sound cache is used');
  const { ino } = await fs.stat(blob);
  const spoiled: [string, string, number, number][] = [
    ['the cache directory group-writable', install.cache, 0o770, 0o700],
    ['the directory above it writable by everyone', install.xdg, 0o777, 0o700],
  ];
  for (const [name, target, bad, good] of spoiled) {
    await fs.chmod(target, bad);
    assert.equal((await send(install, spool)).fromSnapshot, false, name);
    assert.match(doctorLine(install, spool), /\[warn\] sendmail start-up snapshot: not using /, name);
    // Nothing is built into a directory that may not be trusted either.
    assert.deepEqual(await cacheFiles(install), [path.basename(blob), path.basename(linkOf(blob))], name);
    await fs.chmod(target, good);
  }
  assert.equal((await fs.stat(blob)).ino, ino, 'the same blob, untouched');
  assert.equal((await send(install, spool)).fromSnapshot, true);
  // A blob writable by others is not loaded; in a directory of the user's own, a sound one is built in its place.
  await fs.chmod(blob, 0o620);
  assert.match(doctorLine(install, spool), /\[warn\] sendmail start-up snapshot: not using .* is writable by others/);
  assert.equal((await send(install, spool)).fromSnapshot, false, 'the blob group-writable');
  await waitFor(async () => (await fs.stat(blob).catch(() => null))?.ino !== ino, 'the blob rebuilt');
  assert.equal(((await fs.stat(await builtBlob(install))).mode & 0o777), 0o600);
  assert.equal((await send(install, spool)).fromSnapshot, true);
  assert.equal((await storedMessages(spool)).length, 2 + spoiled.length + 2);
});

test('a blob cut short or from another Node falls back to the plain bundle, queues once, and is rebuilt in the background', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const spool = path.join(home, 'spool');
  assert.equal((await runCli(['sendmail-snapshot'], { home: spool, env: install.env, bin: install.cli })).code, 0);
  let blob = await builtBlob(install);
  let count = 0;
  for (const [name, spoil] of [
    ['from another Node version (Node refuses it: exit 14)', pretendOtherNodeVersion],
    // Node would die of SIGSEGV on this one: the size in its name keeps it from being loaded at all.
    ['cut short', async (file: string) => fs.truncate(file, (await fs.stat(file)).size >> 1)],
  ] as const) {
    await spoil(blob);
    const spoiled = await fs.stat(blob);
    assert.equal((await send(install, spool)).fromSnapshot, false, name);
    count++;
    assert.equal((await storedMessages(spool)).length, count, `${name}: queued exactly once`);
    // Rebuilt: a sound blob under this Node's name (the same name for the same size, a new file).
    await waitFor(async () => (await fs.stat(blob).catch(() => null))?.ino !== spoiled.ino, `${name}: rebuilt`);
    blob = await builtBlob(install);
    assert.equal((await send(install, spool)).fromSnapshot, true, `${name}: rebuilt`);
    count++;
  }
  const stored = await storedMessages(spool);
  assert.equal(stored.length, count);
  for (const m of stored) assert.ok(m.endsWith(`\n\n${BODY}`), m);
});

/** The seed token in a per-user blob's name (src/sendmail-snapshot/cache.ts), or null. */
function seedInName(blob: string): string | null {
  return /-seed([1-9][0-9]{0,17}n?)-\d+\.blob$/.exec(blob)?.[1] ?? null;
}

/** Renames a blob and its .node link to `name` (the link made anew: it names this Node). */
async function renameBlob(blob: string, name: string): Promise<string> {
  const renamed = path.join(path.dirname(blob), name);
  await fs.rename(blob, renamed);
  await fs.rm(linkOf(blob));
  await fs.symlink(process.execPath, linkOf(renamed));
  return renamed;
}

test('a per-user blob carries its V8 hash seed in its name and starts with it; under another seed Node 20 refuses it, without one it is not started; each rebuilt, each message queued once', async (t) => {
  const { home, install, spool, made: [nodeDir] } = await freshInstall(t, 'node-bin');
  let count = 0;
  assert.equal((await send(install, spool)).fromSnapshot, false, 'no blob yet: the plain bundle');
  count++;
  // The background build's blob: its seed in its name.
  let blob = await builtBlob(install);
  const seed = seedInName(blob);
  assert.ok(seed !== null, blob);
  const node20 = process.versions.node.startsWith('20.');
  assert.equal(seed.endsWith('n'), !node20, 'not rehashed but on Node 20');
  // Its hash secrets are its seed's (not those of Node's own snapshot, shared by every copy of this Node).
  const bytes = await fs.readFile(blob);
  for (const secret of makeSecretWork(BigInt(seed.replace(/n$/, ''))).secrets) {
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(secret);
    assert.ok(bytes.includes(word), `secret ${secret.toString(16)} of ${seed} in the blob`);
  }
  // Started with that seed, not rehashed: a `node` first on PATH notes its arguments, the blob's link names it.
  const starts = path.join(home, 'starts');
  const noting = path.join(nodeDir!, 'node');
  await fs.writeFile(noting, `#!/bin/sh\necho "$*" >>'${starts}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  await fs.rm(linkOf(blob));
  await fs.symlink(noting, linkOf(blob));
  assert.equal((await send(install, spool, nodeDir)).fromSnapshot, true);
  count++;
  assert.deepEqual((await fs.readFile(starts, 'utf8')).trim().split('\n'), [`${seedTokenFlags(seed).join(' ')} --snapshot-blob ${blob} ${install.sendmail} ${ARGS.join(' ')}`]);
  await fs.rm(linkOf(blob));
  await fs.symlink(process.execPath, linkOf(blob));

  // Renamed to another valid seed: Node 20 refuses it (exit 14: its flags' hash is in it), the plain bundle queues and a
  // rebuild follows; Node 22 and 24 load it, hashing with the seed inside it (no rehash), so it stays.
  const size = (await fs.stat(blob)).size;
  const other = await renameBlob(blob, `${THIS_NODE}seed${BigInt(seed.replace(/n$/, '')) + 1n}${seed.endsWith('n') ? 'n' : ''}-${size}.blob`);
  assert.equal((await send(install, spool)).fromSnapshot, !node20, 'another seed');
  count++;
  assert.equal((await storedMessages(spool)).length, count, 'another seed: queued exactly once');
  if (node20) {
    blob = await builtBlob(install, other);
    assert.notEqual(blob, other);
    assert.ok(seedInName(blob) !== null, blob);
    assert.equal((await send(install, spool)).fromSnapshot, true, 'rebuilt');
    count++;
  } else {
    blob = other;
  }

  // Renamed without a seed (the name an older bulkmailer gave it): not started, and doctor says why; rebuilt with one.
  const unseeded = await renameBlob(blob, `${THIS_NODE}${size}.blob`);
  assert.match(doctorLine(install, spool), /has no V8 hash seed in its name/);
  assert.equal((await send(install, spool)).fromSnapshot, false, 'no seed');
  count++;
  assert.equal((await storedMessages(spool)).length, count, 'no seed: queued exactly once');
  blob = await builtBlob(install, unseeded);
  assert.ok(seedInName(blob) !== null, blob);
  await waitFor(async () => !(await cacheFiles(install)).includes(path.basename(unseeded)), 'the unseeded blob pruned');
  assert.equal((await send(install, spool)).fromSnapshot, true, 'rebuilt with a seed');
  count++;
  const stored = await storedMessages(spool);
  assert.equal(stored.length, count);
  for (const m of stored) assert.ok(m.endsWith(`\n\n${BODY}`), m);
});

test('doctor tries dist\'s blob with its seed from snapshot.seed: loads; without a valid seed it says so; with another seed Node 20 refuses it', async (t) => {
  const { install, spool } = await freshInstall(t);
  const bundle = path.join(install.root, 'dist', 'bundle', 'sendmail');
  await fs.copyFile(path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.blob'), path.join(bundle, 'snapshot.blob'));
  const token = (await fs.readFile(path.join(bundle, 'snapshot.seed'), 'utf8')).trim();
  const off = { ...install, env: { ...install.env, BULKMAILER_SNAPSHOT_CACHE: 'off' } };
  const dist = path.join(bundle, 'snapshot.blob').replaceAll('.', '\\.');
  assert.match(doctorLine(off, spool), new RegExp(`\\[ok  \\] sendmail start-up snapshot: ${dist} \\(built with the install`));
  await fs.writeFile(path.join(bundle, 'snapshot.seed'), 'garbage\n');
  assert.match(doctorLine(off, spool), /\[warn\] sendmail start-up snapshot: none usable.*no valid V8 hash seed recorded for it/);
  await fs.writeFile(path.join(bundle, 'snapshot.seed'), `${BigInt(token.replace(/n$/, '')) + 1n}${token.endsWith('n') ? 'n' : ''}\n`);
  if (process.versions.node.startsWith('20.')) assert.match(doctorLine(off, spool), /\[warn\] sendmail start-up snapshot: none usable.*refuses it \(built by another Node, or with another hash seed\)/);
  else assert.match(doctorLine(off, spool), /\[ok  \] sendmail start-up snapshot: .*built with the install/, 'Node 22 and 24 load it with any seed');
});

test('a cache reached through a symbolic link above it (/home -> /data/home) is judged by what the link names, and used', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const linked = path.join(home, 'linked');
  await fs.symlink(install.xdg, linked);
  const env = { ...install.env, XDG_CACHE_HOME: linked };
  const spool = path.join(home, 'spool');
  const built = await runCli(['sendmail-snapshot'], { home: spool, env, bin: install.cli });
  assert.equal(built.code, 0, built.stderr);
  assert.equal((await send({ ...install, env }, spool)).fromSnapshot, true);
  assert.equal((await storedMessages(spool)).length, 1);
});

test('two Node versions used in turn: each starts from its own blob, and neither rebuilds', async (t) => {
  const { install, spool, made: [otherDir] } = await freshInstall(t, 'other-node');
  const other = await otherNodeVersion(otherDir!);
  const otherPrefix = blobPrefix(other.version);
  assert.equal((await send(install, spool)).fromSnapshot, false);
  const ours = await builtBlob(install);
  // The other Node has no blob of its own yet: the plain bundle, then its own build beside ours.
  assert.equal((await send(install, spool, otherDir!)).fromSnapshot, false);
  const theirs = await builtBlob(install, undefined, otherPrefix);
  assert.equal(await fs.realpath(linkOf(theirs)), await fs.realpath(other.node));
  const before = await Promise.all((await cacheFiles(install)).map(async (f) => `${f} ${(await fs.lstat(path.join(install.cache, f))).ino}`));
  assert.equal(before.length, 4, before.join(', '));
  // In turn, each from its own (the other's, newer, is not tried first) and no build starts.
  for (let round = 0; round < 2; round++) {
    assert.equal((await send(install, spool)).fromSnapshot, true, `this Node, round ${round}`);
    assert.equal((await send(install, spool, otherDir!)).fromSnapshot, true, `the other Node, round ${round}`);
  }
  const after = await Promise.all((await cacheFiles(install)).map(async (f) => `${f} ${(await fs.lstat(path.join(install.cache, f))).ino}`));
  assert.deepEqual(after, before, 'the same blobs and links: nothing rebuilt, no marker');
  assert.match(doctorLine(install, spool), new RegExp(`\\[ok  \\] sendmail start-up snapshot: ${ours.replaceAll('.', '\\.')} \\(per-user`));
  const stored = await storedMessages(spool);
  assert.equal(stored.length, 6);
  for (const m of stored) assert.ok(m.endsWith(`\n\n${BODY}`), m);
  // That Node uninstalled: the next build prunes its blob and link, and keeps this Node's own.
  await fs.rm(other.node);
  const rebuilt = await runCli(['sendmail-snapshot'], { home: spool, env: install.env, bin: install.cli });
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  const fresh = await builtBlob(install); // (its size may differ from the first build's)
  assert.deepEqual(await cacheFiles(install), [path.basename(fresh), path.basename(linkOf(fresh))]);
});

test('a Node binary upgraded in place: one start refused, a rebuild for the new version, the old version\'s blob pruned', async (t) => {
  const { install, spool, made: [nodeDir, staging] } = await freshInstall(t, 'node-bin', 'staging');
  await fs.copyFile(process.execPath, path.join(nodeDir!, 'node'));
  await fs.chmod(path.join(nodeDir!, 'node'), 0o755);
  assert.equal((await send(install, spool, nodeDir!)).fromSnapshot, false);
  const binary = path.join(nodeDir!, 'node');
  const old = await builtBlob(install, undefined, blobPrefix(process.versions.node, binary));
  assert.equal((await send(install, spool, nodeDir!)).fromSnapshot, true);
  // The upgrade: the new version renamed over the same path, as package managers do.
  const upgraded = await otherNodeVersion(staging!);
  await fs.rename(upgraded.node, path.join(nodeDir!, 'node'));
  // The old blob's link names the upgraded binary, which refuses it: the plain bundle, once.
  assert.equal((await send(install, spool, nodeDir!)).fromSnapshot, false);
  const fresh = await builtBlob(install, undefined, blobPrefix(upgraded.version, binary));
  assert.deepEqual(await cacheFiles(install), [path.basename(fresh), path.basename(linkOf(fresh))], `${path.basename(old)} pruned`);
  assert.equal((await send(install, spool, nodeDir!)).fromSnapshot, true);
  assert.equal((await storedMessages(spool)).length, 4);
});

test('while builds keep failing, a message checks the failure marker only: no listing of the cache, no new attempt', async (t) => {
  const { install, spool } = await freshInstall(t);
  // A snapshot script Node cannot build from: every build fails.
  const script = path.join(install.root, 'dist', 'bundle', 'sendmail', 'snapshot.cjs');
  await fs.writeFile(script, `throw new Error('broken on purpose');\n${await fs.readFile(script, 'utf8')}`);
  const failed = path.join(install.cache, `${THIS_NODE}failed`);
  assert.equal((await send(install, spool)).fromSnapshot, false);
  await waitFor(async () => (await cacheFiles(install)).includes(path.basename(failed)) && !(await cacheFiles(install)).some((f) => f.endsWith('building')), 'the background build fails');
  assert.match(await fs.readFile(failed, 'utf8'), /broken on purpose/);
  const marker = await fs.stat(failed);
  // What the next message's plain bundle runs after queueing: one stat of the marker, no listing.
  const build = (await import(path.join(install.root, 'dist', 'sendmail-snapshot', 'build.js'))) as BuildModule;
  const { result: started, seen } = listingsAndStats(() => build.startBackgroundBuild({ ...process.env, ...install.env }));
  assert.equal(started, false);
  assert.deepEqual(seen, [`stat ${failed}`]);
  // And through the launcher: queued, no build started (the marker is not rewritten), no blob.
  for (let i = 0; i < 2; i++) assert.equal((await send(install, spool)).fromSnapshot, false);
  assert.deepEqual(await cacheFiles(install), [path.basename(failed)]);
  const still = await fs.stat(failed);
  assert.equal(`${still.ino} ${still.mtimeMs}`, `${marker.ino} ${marker.mtimeMs}`, 'no new attempt');
  assert.equal((await storedMessages(spool)).length, 3);
});

test('the plain bundle keeps no compile cache in the shared temporary directory, where another user could plant code for it', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const install = await registryInstall(path.join(home, 'install'));
  const tmp = path.join(home, 'shared-tmp');
  await fs.mkdir(tmp, { mode: 0o1777 });
  await fs.chmod(tmp, 0o1777);
  const spool = path.join(home, 'spool');
  // Node 22.1+ would put module.enableCompileCache()'s default directory here, whoever made it first.
  const run = await runCli(ARGS, { home: spool, bin: install.sendmail, input: MESSAGE, env: { ...install.env, BULKMAILER_SNAPSHOT_CACHE: 'off', TMPDIR: tmp } });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(!run.stderr.includes(FROM_SNAPSHOT), 'queued through the plain bundle');
  assert.equal((await storedMessages(spool)).length, 1);
  assert.deepEqual(await fs.readdir(tmp), [], 'nothing left in the shared temporary directory');
});

test('-bp, --version and mailq with a per-user blob and dist\'s: the snapshot declines once (exit 15) and the plain bundle runs, no second blob is tried', async (t) => {
  const { home, install, spool, made: [nodeDir] } = await freshInstall(t, 'node-bin');
  // dist's blob back in place beside the per-user one, as in a checkout whose user also built one.
  await fs.copyFile(path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.blob'), path.join(install.root, 'dist', 'bundle', 'sendmail', 'snapshot.blob'));
  assert.equal((await runCli(['sendmail-snapshot'], { home: spool, env: install.env, bin: install.cli })).code, 0);
  const blob = await builtBlob(install);
  // A `node` first on PATH that notes each start, and the per-user blob's link naming it (the launcher's test -ef).
  const starts = path.join(home, 'starts');
  const node = path.join(nodeDir!, 'node');
  // (Its first argument after the hash seed's two flags, which start from a blob always comes with.)
  await fs.writeFile(node, `#!/bin/sh\nfor a; do case $a in --hash-seed=*|--no-rehash-snapshot) ;; *) echo "$a" >>'${starts}'; break ;; esac; done\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  await fs.rm(linkOf(blob));
  await fs.symlink(node, linkOf(blob));
  const run = async (args: string[], input?: string): Promise<string[]> => {
    await fs.rm(starts, { force: true });
    const env = { ...process.env, ...install.env, BULKMAILER_HOME: spool, PATH: `${nodeDir!}${path.delimiter}${process.env.PATH ?? ''}` };
    const done = await collect(spawn(install.sendmail, args, { env, stdio: ['pipe', 'pipe', 'pipe'] }), input ?? '');
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    return (await fs.readFile(starts, 'utf8')).trim().split('\n');
  };
  assert.deepEqual(await run(ARGS, MESSAGE), ['--snapshot-blob'], 'queueing: one start, from the per-user blob');
  for (const args of [['-bp'], ['--version']]) {
    assert.deepEqual(await run(args), ['--snapshot-blob', install.sendmail], `${args.join(' ')}: the per-user blob declines, then the plain bundle`);
  }
  const mailq = path.join(install.root, 'bin', 'mailq');
  await fs.symlink(install.sendmail, mailq);
  const env = { ...process.env, ...install.env, BULKMAILER_HOME: spool, PATH: `${nodeDir!}${path.delimiter}${process.env.PATH ?? ''}` };
  await fs.rm(starts, { force: true });
  const listed = await collect(spawn(mailq, [], { env, stdio: ['pipe', 'pipe', 'pipe'] }), '');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /-- \d+ Kbytes in 1 Request\.\n$/);
  assert.equal((await fs.readFile(starts, 'utf8')).trim().split('\n').length, 2, 'mailq: two starts');
  // No build was started by the declined modes (a blob was usable).
  assert.deepEqual(await cacheFiles(install), [path.basename(blob), path.basename(linkOf(blob))]);
});

test('the plain bundle decides on a build from the arguments it parsed once: queueing starts one, a declined mode does not', async (t) => {
  const { install } = await freshInstall(t);
  type Trigger = typeof import('../../src/frontends/sendmail/snapshot-trigger.js');
  // The install's own compiled module (its build.js finds that install's bundle and cache).
  const trigger = (await import(path.join(install.root, 'dist', 'frontends', 'sendmail', 'snapshot-trigger.js'))) as Trigger;
  const env = { ...process.env, ...install.env };
  assert.equal(trigger.startSnapshotBuildAfterQueueing(parseSendmailArgs(['-bp']), 'sendmail', env), false);
  assert.equal(trigger.startSnapshotBuildAfterQueueing(parseSendmailArgs(ARGS), 'mailq', env), false);
  assert.deepEqual(await cacheFiles(install), [], 'nothing started for a mode the snapshot declines');
  assert.equal(trigger.startSnapshotBuildAfterQueueing(parseSendmailArgs(ARGS), 'sendmail', env), true);
  await builtBlob(install);
});

test('a cache directory that may not be trusted is refused before it is listed, by the build and by the cache check alike', async (t) => {
  const { install } = await freshInstall(t);
  const build = (await import(path.join(install.root, 'dist', 'sendmail-snapshot', 'build.js'))) as BuildModule;
  type CacheModule = typeof import('../../src/sendmail-snapshot/cache.js');
  const cache = (await import(path.join(install.root, 'dist', 'sendmail-snapshot', 'cache.js'))) as CacheModule;
  const env = { ...process.env, ...install.env };
  await fs.mkdir(install.cache, { mode: 0o700 });
  // 0755 is trusted, as the launcher's find judges it: writable by nobody but its owner.
  await fs.chmod(install.cache, 0o755);
  assert.equal(cache.cacheDirProblem(install.cache), null);
  for (const [mode, why] of [[0o775, /is writable by its group \(mode 0775\)/], [0o1700, /is sticky \(mode 1700\)/]] as const) {
    await fs.chmod(install.cache, mode);
    assert.match(cache.cacheDirProblem(install.cache)?.problem ?? 'trusted', why);
    const { result: started, seen } = listingsAndStats(() => build.startBackgroundBuild(env));
    assert.equal(started, false, mode.toString(8));
    assert.deepEqual(seen.filter((s) => s.startsWith('readdir')), [], `${mode.toString(8)}: no listing`);
  }
  await fs.chmod(install.xdg, 0o777);
  await fs.chmod(install.cache, 0o700);
  assert.match(cache.cacheDirProblem(install.cache)?.problem ?? 'trusted', /xdg-cache is writable by everyone/);
  await fs.chmod(install.xdg, 0o700);
  assert.deepEqual(await cacheFiles(install), [], 'nothing built');
});

test('two copies of one Node version at different paths (nvm\'s and the system\'s): each keeps its own blob, neither rebuilds', async (t) => {
  const { install, spool, made: [copyDir] } = await freshInstall(t, 'copy-node');
  const copy = path.join(copyDir!, 'node');
  await fs.copyFile(process.execPath, copy);
  await fs.chmod(copy, 0o755);
  assert.equal((await send(install, spool)).fromSnapshot, false);
  const ours = await builtBlob(install);
  assert.equal((await send(install, spool, copyDir!)).fromSnapshot, false, 'the copy has no blob of its own yet');
  const theirs = await builtBlob(install, ours, blobPrefix(process.versions.node, copy));
  assert.notEqual(path.basename(theirs), path.basename(ours));
  assert.equal(await fs.realpath(linkOf(theirs)), await fs.realpath(copy));
  assert.equal(await fs.realpath(linkOf(ours)), await fs.realpath(process.execPath), 'ours kept, still linked to this Node');
  const before = await Promise.all((await cacheFiles(install)).map(async (f) => `${f} ${(await fs.lstat(path.join(install.cache, f))).ino}`));
  assert.equal(before.length, 4, before.join(', '));
  for (let round = 0; round < 2; round++) {
    assert.equal((await send(install, spool)).fromSnapshot, true, `this Node, round ${round}`);
    assert.equal((await send(install, spool, copyDir!)).fromSnapshot, true, `the copy, round ${round}`);
  }
  const after = await Promise.all((await cacheFiles(install)).map(async (f) => `${f} ${(await fs.lstat(path.join(install.cache, f))).ino}`));
  assert.deepEqual(after, before, 'nothing rebuilt');
  assert.equal((await storedMessages(spool)).length, 6);
});
