/**
 * The sendmail command's start-up snapshot (src/frontends/sendmail/
 * snapshot-entry.ts, built into dist/bundle/sendmail/snapshot.blob by
 * `npm run build` for the Node that builds) and its launcher
 * (bin/bulkmailer-sendmail, a shell script): the real launcher queues from
 * the snapshot; falls back to the plain bundle, silently and with stdin
 * intact, when the blob is missing or was built by another Node version
 * (and, on Node 20, under another seed); starts the snapshot's Node
 * without NODE_EXTRA_CA_CERTS and NODE_OPTIONS (a V8 flag in it no longer
 * sends every message to the plain bundle), put back for what it starts
 * and for the plain bundle; hands every other mode to the plain
 * bundle; exits 0 only after the commit (crash points inside the
 * snapshot); passes a SIGTERM on to Node, which then queues nothing; and
 * nudges a running agent from the snapshot (node:net loaded only then).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseSendmailArgs } from '../../src/frontends/sendmail/parse-args.js';
import { DECLINED, EXTRA_CA_CERTS_ENV, NODE_OPTIONS_ENV, runFromSnapshot, snapshotRuns } from '../../src/frontends/sendmail/snapshot-entry.js';
import { isSeedToken, makeSecretWork, seedTokenFlags } from '../../src/sendmail-snapshot/hash-seed.js';
import { listEntryIds, listenForNudges, messagePath, openSpool } from '../../src/spool/index.js';
import { collect, ROOT, runCli, SENDMAIL } from '../support/cli.js';
import { pretendOtherNodeVersion } from '../support/snapshot-blob.js';
import { makeTempHome, writeConfig } from '../support/home.js';

const BLOB = path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.blob');
/** The V8 flags dist's blob was built with and must run with (its seed in snapshot.seed). */
/** dist's blob's seed token (src/sendmail-snapshot/hash-seed.ts), its seed, and the V8 flags it runs with. */
const BLOB_TOKEN = (await fs.readFile(path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.seed'), 'utf8')).trim();
const BLOB_SEED = BLOB_TOKEN.replace(/n$/, '');
const BLOB_FLAGS = seedTokenFlags(BLOB_TOKEN);
const NODE20 = process.versions.node.startsWith('20.');
const FROM_SNAPSHOT = 'started from the start-up snapshot';
const BODY = 'The body, which must arrive whole.\n';
const MESSAGE = `Subject: snapshot\n\n${BODY}`;
const ARGS = ['-v', '-f', 'ada@example.org', 'bob@example.net'];

async function storedMessages(home: string): Promise<string[]> {
  const spool = await openSpool(home);
  return Promise.all((await listEntryIds(spool)).map((id) => fs.readFile(messagePath(spool, id), 'utf8')));
}

/** A copy of the installed command (launcher, bundle, blob) in a temp dir, to spoil its blob. */
async function copyInstall(dir: string): Promise<{ bin: string; blob: string }> {
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  await fs.cp(path.join(ROOT, 'dist', 'bundle', 'sendmail'), path.join(dir, 'dist', 'bundle', 'sendmail'), { recursive: true });
  await fs.copyFile(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  await fs.symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const bin = path.join(dir, 'bin', 'bulkmailer-sendmail');
  await fs.copyFile(SENDMAIL, bin);
  await fs.chmod(bin, 0o755);
  return { bin, blob: path.join(dir, 'dist', 'bundle', 'sendmail', 'snapshot.blob') };
}

test('the snapshot runs only the queueing mode, and declines the rest before reading anything', async () => {
  const runs = (argv: string[], persona: 'sendmail' | 'mailq' = 'sendmail') => snapshotRuns(parseSendmailArgs(argv), persona);
  assert.equal(runs(['bob@example.net']), true);
  assert.equal(runs(['-t', '-i', '-odq', '-f', 'ada@example.org']), true);
  for (const argv of [['-bp'], ['-q'], ['-bs'], ['-odi', 'bob@example.net'], ['-odb', 'bob@example.net'], ['--help'], ['--version']]) {
    assert.equal(runs(argv), false, argv.join(' '));
  }
  assert.equal(runs(['bob@example.net'], 'mailq'), false);
  // Declining returns at once: stdin is never touched, so this does not wait for it.
  assert.equal(await runFromSnapshot(['-bp'], '/usr/bin/sendmail'), DECLINED);
  assert.equal(await runFromSnapshot([], '/usr/bin/mailq'), DECLINED);
});

test('npm run build made a blob for this Node, and the launcher queues from it', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await fs.access(BLOB);
  const run = await runCli(ARGS, { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(FROM_SNAPSHOT));
  assert.match(run.stderr, /queued \w+ for 1 recipient/);
  const [stored] = await storedMessages(home);
  assert.ok(stored?.endsWith(`\n\n${BODY}`), stored);
  assert.match(stored ?? '', /^Subject: snapshot\n/m);
});

test('started by hand (node --snapshot-blob, no launcher), the snapshot writes to Node\'s own stderr', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const child = spawn(process.execPath, [...BLOB_FLAGS, '--snapshot-blob', BLOB, SENDMAIL, ...ARGS], { env: { ...process.env, BULKMAILER_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  const run = await collect(child, MESSAGE);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(`^bulkmailer-sendmail: ${FROM_SNAPSHOT}\n`));
  assert.equal((await storedMessages(home)).length, 1);
});

test('a blob that is missing or from another Node version: the plain bundle queues, silently, stdin intact', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const cases: { name: string; bin: string; env?: Record<string, string>; snapshot: boolean | 'either' }[] = [];
  const missing = await copyInstall(path.join(home, 'missing'));
  await fs.rm(missing.blob);
  cases.push({ name: 'no blob', bin: missing.bin, snapshot: false });
  const other = await copyInstall(path.join(home, 'other'));
  await pretendOtherNodeVersion(other.blob);
  cases.push({ name: 'another Node version', bin: other.bin, snapshot: false });
  // Node 20 refuses a blob under V8 flags it was not built with; 22 and 24 accept these. Either way the command queues.
  cases.push({ name: 'V8 flags in NODE_OPTIONS', bin: SENDMAIL, env: { NODE_OPTIONS: '--max-old-space-size=200' }, snapshot: 'either' });
  const sound = await copyInstall(path.join(home, 'sound'));
  cases.push({ name: 'a sound copy', bin: sound.bin, snapshot: true });
  const spoolHome = path.join(home, 'spool-home');
  for (const c of cases) {
    const run = await runCli(ARGS, { home: spoolHome, bin: c.bin, input: MESSAGE, ...(c.env ? { env: c.env } : {}) });
    assert.equal(run.code, 0, `${c.name}: ${run.stderr}`);
    if (c.snapshot !== 'either') assert.equal(run.stderr.includes(FROM_SNAPSHOT), c.snapshot, `${c.name}: ${run.stderr}`);
    // Node's own complaint about the blob does not reach the user: only our -v lines.
    assert.deepEqual(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('bulkmailer-sendmail: ')), [], `${c.name}: ${run.stderr}`);
  }
  const stored = await storedMessages(spoolHome);
  assert.equal(stored.length, cases.length);
  for (const message of stored) assert.ok(message.endsWith(`\n\n${BODY}`), message);
});

/** A `node` in `dir`, for the front of PATH, that notes the arguments of each start (a line each) in `log`, then runs this Node. */
async function notingNode(dir: string, log: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'node'), `#!/bin/sh\necho "$*" >>'${log}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
}

/** dist's blob as the launcher `bin` names it (from its own directory). */
function launcherBlob(bin: string): string {
  return `${path.dirname(bin)}/../dist/bundle/sendmail/snapshot.blob`;
}

/** Sends MESSAGE through the launcher `bin` with `nodeDir` first on PATH (runCli would put this Node's directory first). */
async function sendWithNode(bin: string, home: string, nodeDir: string): Promise<{ code: number | null; stderr: string }> {
  const env = { ...process.env, BULKMAILER_HOME: home, BULKMAILER_SNAPSHOT_CACHE: 'off', PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? ''}` };
  return collect(spawn(bin, ARGS, { env, stdio: ['pipe', 'pipe', 'pipe'] }), MESSAGE);
}

test('npm run build drew a V8 hash seed for dist\'s blob (snapshot.seed): the blob holds that seed\'s secrets, and the launcher starts it with the seed (not rehashed but on Node 20)', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  assert.ok(isSeedToken(BLOB_TOKEN), BLOB_TOKEN);
  // Node 20 runs a blob only with its build's flags (--hash-seed alone, so the blob is rehashed); 22 and 24 without the rehash.
  assert.equal(BLOB_TOKEN.endsWith('n'), !NODE20, BLOB_TOKEN);
  // The blob's hash secrets are its seed's (V8's read-only roots keep them as 64-bit words), not those of Node's own
  // snapshot, which every copy of this Node shares: a blob built with --no-rehash-snapshot would hold those.
  const bytes = await fs.readFile(BLOB);
  for (const secret of makeSecretWork(BigInt(BLOB_SEED)).secrets) {
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(secret);
    assert.ok(bytes.includes(word), `secret ${secret.toString(16)} of seed ${BLOB_SEED} in the blob`);
  }
  const starts = path.join(home, 'starts');
  await notingNode(path.join(home, 'node-bin'), starts);
  const run = await sendWithNode(SENDMAIL, path.join(home, 'spool'), path.join(home, 'node-bin'));
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(FROM_SNAPSHOT));
  assert.deepEqual((await fs.readFile(starts, 'utf8')).split('\n'), [`${BLOB_FLAGS.join(' ')} --snapshot-blob ${launcherBlob(SENDMAIL)} ${SENDMAIL} ${ARGS.join(' ')}`, '']);
  assert.equal((await storedMessages(path.join(home, 'spool'))).length, 1);
  // The blob is refused without its seed on Node 20 (its flags' hash is in it); 22 and 24 do not compare flags.
  const bare = spawn(process.execPath, ['--snapshot-blob', BLOB, SENDMAIL, '-Z'], { stdio: 'ignore' });
  const bareCode = await new Promise((resolve) => bare.on('close', resolve));
  assert.equal(bareCode, NODE20 ? 14 : 64);
});

test('dist\'s blob with a missing, garbage or out-of-range seed token is not started; with another valid one Node 20 refuses it; the message is queued once every time', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const starts = path.join(home, 'starts');
  const nodeDir = path.join(home, 'node-bin');
  await notingNode(nodeDir, starts);
  const install = await copyInstall(path.join(home, 'install'));
  const seedFile = path.join(path.dirname(install.blob), 'snapshot.seed');
  const spool = path.join(home, 'spool');
  const planted = path.join(home, 'planted');
  const plain = `${install.bin} ${ARGS.join(' ')}`;
  const fromBlob = (token: string) => `${seedTokenFlags(token).join(' ')} --snapshot-blob ${launcherBlob(install.bin)} ${plain}`;
  const suffix = BLOB_TOKEN.endsWith('n') ? 'n' : '';
  const other = `${BigInt(BLOB_SEED) + 1n}${suffix}`;
  // The same seed, run the other way (with a rehash where the blob is not, or the reverse).
  const otherWay = suffix === 'n' ? BLOB_SEED : `${BLOB_SEED}n`;
  const cases: { name: string; content: string | null; starts: string[]; snapshot: boolean }[] = [
    { name: 'no seed file', content: null, starts: [plain], snapshot: false },
    { name: 'an empty one', content: '', starts: [plain], snapshot: false },
    { name: '0, V8\'s "random"', content: '0\n', starts: [plain], snapshot: false },
    { name: 'a leading zero', content: `0${BLOB_TOKEN}\n`, starts: [plain], snapshot: false },
    { name: 'two n', content: `${BLOB_TOKEN}nn\n`, starts: [plain], snapshot: false },
    { name: 'n alone', content: 'n\n', starts: [plain], snapshot: false },
    { name: '19 digits (V8 reads above 2^63-1 as random)', content: '9223372036854775808\n', starts: [plain], snapshot: false },
    { name: 'letters', content: 'forty\n', starts: [plain], snapshot: false },
    // `IFS= read -r`: the line as doctor reads it (blobSeed), spaces and all, so the two agree on what is not a token.
    { name: 'spaces around it', content: `  ${BLOB_TOKEN}  \n`, starts: [plain], snapshot: false },
    { name: 'another flag after it', content: `${BLOB_TOKEN} --eval=process.exit(3)\n`, starts: [plain], snapshot: false },
    { name: 'a command substitution', content: `${BLOB_TOKEN}$(touch ${planted})\n`, starts: [plain], snapshot: false },
    // Node 20 refuses a blob run with flags other than its build's (exit 14): the plain bundle follows. Node 22 and 24 load it:
    // without the rehash V8 hashes with the secrets in the blob, not the flag's; with it, with the flag's seed, rehashed.
    { name: 'another valid seed', content: `${other}\n`, starts: NODE20 ? [fromBlob(other), plain] : [fromBlob(other)], snapshot: !NODE20 },
    { name: 'its seed, run the other way', content: `${otherWay}\n`, starts: NODE20 ? [fromBlob(otherWay), plain] : [fromBlob(otherWay)], snapshot: !NODE20 },
    { name: 'its own token, without a newline', content: BLOB_TOKEN, starts: [fromBlob(BLOB_TOKEN)], snapshot: true },
  ];
  let queued = 0;
  for (const c of cases) {
    if (c.content === null) await fs.rm(seedFile, { force: true });
    else await fs.writeFile(seedFile, c.content);
    await fs.rm(starts, { force: true });
    const run = await sendWithNode(install.bin, spool, nodeDir);
    assert.equal(run.code, 0, `${c.name}: ${run.stderr}`);
    assert.equal(run.stderr.includes(FROM_SNAPSHOT), c.snapshot, `${c.name}: ${run.stderr}`);
    assert.deepEqual(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('bulkmailer-sendmail: ')), [], `${c.name}: ${run.stderr}`);
    assert.deepEqual((await fs.readFile(starts, 'utf8')).trim().split('\n'), c.starts, c.name);
    queued++;
    assert.equal((await storedMessages(spool)).length, queued, `${c.name}: queued once`);
  }
  await assert.rejects(fs.access(planted), 'nothing in the seed file is run');
  for (const message of await storedMessages(spool)) assert.ok(message.endsWith(`\n\n${BODY}`), message);
});

/**
 * The launcher with a `node` first on PATH that notes, for each start, its first argument, `name` and `ourName`
 * (the name the launcher passes `name` under), then runs the real Node; `run` sends through the launcher
 * (exit 0 and nothing on stderr but our own lines asserted) with `name` only as `vars` set it.
 */
async function launcherNotingVariable(t: TestContext, name: string, ourName: string) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const starts = path.join(home, 'starts');
  const nodeDir = path.join(home, 'node-bin');
  await fs.mkdir(nodeDir);
  await fs.writeFile(path.join(nodeDir, 'node'), `#!/bin/sh\necho "$1 \${${name}-unset} \${${ourName}-unset}" >>'${starts}'\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
  const spool = path.join(home, 'spool');
  const run = async (args: string[], vars: Record<string, string>, input = ''): Promise<{ stderr: string; starts: string[] }> => {
    await fs.rm(starts, { force: true });
    const base: NodeJS.ProcessEnv = { ...process.env };
    delete base[name];
    const childEnv = { ...base, ...vars, BULKMAILER_HOME: spool, BULKMAILER_SNAPSHOT_CACHE: 'off', PATH: `${nodeDir}${path.delimiter}${process.env.PATH ?? ''}` };
    const done = await collect(spawn(SENDMAIL, args, { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] }), input);
    assert.equal(done.code, 0, `${args.join(' ')}: ${done.stderr}`);
    assert.deepEqual(done.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('bulkmailer-sendmail: ')), [], done.stderr);
    return { stderr: done.stderr, starts: (await fs.readFile(starts, 'utf8')).trim().split('\n') };
  };
  return { home, spool, run };
}

/**
 * With `-bp` (the snapshot declines, the plain bundle runs): the snapshot's Node starts without `name` and the plain
 * bundle gets it back (as `value`, or set but empty), without `ourName`; unset, it is set nowhere, and `ourName`
 * inherited from elsewhere (`planted`) is dropped, not turned into `name`.
 */
async function assertPassedBackByLauncher(run: Awaited<ReturnType<typeof launcherNotingVariable>>['run'], name: string, ourName: string, value: string, planted: string) {
  assert.deepEqual((await run(['-bp'], { [name]: value })).starts, [`${BLOB_FLAGS[0]} unset ${value}`, `${SENDMAIL} ${value} unset`]);
  assert.deepEqual((await run(['-bp'], { [name]: '' })).starts, [`${BLOB_FLAGS[0]} unset `, `${SENDMAIL}  unset`]);
  assert.deepEqual((await run(['-bp'], {})).starts, [`${BLOB_FLAGS[0]} unset unset`, `${SENDMAIL} unset unset`]);
  assert.deepEqual((await run(['-bp'], { [ourName]: planted })).starts, [`${BLOB_FLAGS[0]} unset unset`, `${SENDMAIL} unset unset`]);
}

test('NODE_EXTRA_CA_CERTS: the snapshot\'s Node starts without it (Node 20 parses the CA store at start-up) and puts it back for what it starts; the plain bundle gets it back', async (t) => {
  // What runFromSnapshot does first, whatever the mode.
  const env: NodeJS.ProcessEnv = { [EXTRA_CA_CERTS_ENV]: '/etc/corporate-ca.pem', OTHER: 'x' };
  assert.equal(await runFromSnapshot(['-bp'], '/usr/bin/sendmail', env), DECLINED);
  assert.deepEqual(env, { NODE_EXTRA_CA_CERTS: '/etc/corporate-ca.pem', OTHER: 'x' });
  const none: NodeJS.ProcessEnv = { OTHER: 'x' };
  assert.equal(await runFromSnapshot(['-bp'], '/usr/bin/sendmail', none), DECLINED);
  assert.deepEqual(none, { OTHER: 'x' });

  const { home, spool, run } = await launcherNotingVariable(t, 'NODE_EXTRA_CA_CERTS', EXTRA_CA_CERTS_ENV);
  const ca = path.join(home, 'ca.pem');
  await fs.writeFile(ca, '');
  const queued = await run(ARGS, { NODE_EXTRA_CA_CERTS: ca }, MESSAGE);
  assert.match(queued.stderr, new RegExp(FROM_SNAPSHOT));
  assert.deepEqual(queued.starts, [`${BLOB_FLAGS[0]} unset ${ca}`], 'queueing: the snapshot starts without it, given it under our name');
  await assertPassedBackByLauncher(run, 'NODE_EXTRA_CA_CERTS', EXTRA_CA_CERTS_ENV, ca, '/planted.pem');
  assert.equal((await storedMessages(spool)).length, 1);
});

test('NODE_OPTIONS: the snapshot\'s Node starts without it (a V8 flag in it makes Node 20 refuse every blob) and puts it back for what it starts; the plain bundle gets it back', async (t) => {
  // What runFromSnapshot does first, whatever the mode: both passed variables back under their own names.
  const env: NodeJS.ProcessEnv = { [NODE_OPTIONS_ENV]: '--max-old-space-size=200', [EXTRA_CA_CERTS_ENV]: '', OTHER: 'x' };
  assert.equal(await runFromSnapshot(['-bp'], '/usr/bin/sendmail', env), DECLINED);
  assert.deepEqual(env, { NODE_OPTIONS: '--max-old-space-size=200', NODE_EXTRA_CA_CERTS: '', OTHER: 'x' });

  const { spool, run } = await launcherNotingVariable(t, 'NODE_OPTIONS', NODE_OPTIONS_ENV);
  // A V8 flag (Node 20 refused the blob with it: exit 14, the plain bundle for every message): queued from the snapshot.
  const flag = '--max-old-space-size=200';
  for (let i = 0; i < 2; i++) {
    const queued = await run(ARGS, { NODE_OPTIONS: flag }, MESSAGE);
    assert.match(queued.stderr, new RegExp(FROM_SNAPSHOT));
    assert.deepEqual(queued.starts, [`${BLOB_FLAGS[0]} unset ${flag}`], 'queueing: the snapshot starts without it, given it under our name');
  }
  await assertPassedBackByLauncher(run, 'NODE_OPTIONS', NODE_OPTIONS_ENV, flag, '--require=/planted.cjs');
  assert.equal((await storedMessages(spool)).length, 2);
});

test('the launcher hands every other mode to the plain bundle (--version, -bp); a usage error is the same from the snapshot', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { from: 'ada@example.org' });
  const version = await runCli(['--version'], { home, bin: SENDMAIL });
  assert.equal(version.code, 0, version.stderr);
  const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout, `bulkmailer-sendmail ${pkg.version}\n`);
  assert.equal((await runCli(ARGS, { home, bin: SENDMAIL, input: MESSAGE })).code, 0);
  const list = await runCli(['-bp'], { home, bin: SENDMAIL });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /bob@example\.net\n[\s\S]*-- \d+ Kbytes in 1 Request\.\n$/);
  const usage = await runCli(['-Z', 'bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(usage.code, 64);
  assert.match(usage.stderr, /^bulkmailer-sendmail: unknown option -Z\n/);
});

test('exit 0 only after the commit: a crash inside the snapshot exits by the signal, before or after the commit\'s rename', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  for (const [point, committed] of [['enqueue-after-message-rename', 0], ['enqueue-after-fsync-round', 0], ['enqueue-after-commit-link', 1]] as const) {
    const crashHome = path.join(home, point);
    const run = await runCli(ARGS, { home: crashHome, bin: SENDMAIL, input: MESSAGE, env: { BULKMAILER_CRASH_AT: point } });
    assert.equal(run.code, null, `${point}: exit ${run.code} ${run.stderr}`);
    assert.equal(run.signal, 'SIGKILL', point);
    assert.equal((await listEntryIds(await openSpool(crashHome))).length, committed, point);
  }
});

test('run from its snapshot, the command names its pending commit with the current boot; the image holds no boot id of its build', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const bootId = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  // The warm-up reads the boot id (to compile that path): its value must not be written into the image.
  assert.equal((await fs.readFile(BLOB)).includes(bootId), false, 'the boot id of the build is not in the image');
  const run = await runCli(ARGS, { home, bin: SENDMAIL, input: MESSAGE, env: { BULKMAILER_CRASH_AT: 'enqueue-after-fsync-round' } });
  assert.equal(run.signal, 'SIGKILL', `exit ${run.code} ${run.stderr}`);
  assert.ok(run.stderr.includes(FROM_SNAPSHOT), run.stderr);
  const tmp = await fs.readdir((await openSpool(home)).tmp);
  assert.equal(tmp.length, 1, tmp.join(' '));
  assert.equal(tmp[0]!.split('.')[2], bootId.replace(/-/g, '').slice(0, 8), tmp[0]);
});

/** The pids whose parent is `pid` (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) found.push(Number(name));
  }
  return found;
}

/** Whether `pid` still runs (a zombie waiting for its reaper does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat !== null && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

test('SIGTERM to the launcher mid-message reaches Node: nothing is queued, the command ends by the signal', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const env = { ...process.env, BULKMAILER_HOME: home, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` };
  const child = spawn(SENDMAIL, ARGS, { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  child.stdin.on('error', () => {});
  child.stdin.write('Subject: cut short\n\nthe first half');
  let node: number | undefined;
  while (node === undefined) {
    node = (await childrenOf(child.pid as number))[0];
    if (node === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGTERM');
  const result = await done;
  assert.equal(result.signal, 'SIGTERM', `exit ${result.code}: ${stderr}`);
  // Node is gone too (not left reading the rest of the message), so ending its input now queues nothing.
  while (await running(node)) await new Promise((resolve) => setTimeout(resolve, 20));
  child.stdin.end('\n');
  assert.deepEqual(await storedMessages(home).catch(() => []), []);
});

test('from the snapshot, a message nudges the agent listening on the trigger socket (node:net is loaded only then)', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  assert.equal((await runCli(ARGS, { home, bin: SENDMAIL, input: MESSAGE })).code, 0, 'the spool made');
  let nudges = 0;
  const server = await listenForNudges(await openSpool(home), () => nudges++);
  t.after(() => server.close());
  const run = await runCli(ARGS, { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, new RegExp(FROM_SNAPSHOT));
  assert.match(run.stderr, /the agent was asked to deliver it now/);
  while (nudges === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(nudges, 1);
  assert.equal((await storedMessages(home)).length, 2);
});
