/**
 * Issue 11 item 1: a home, config file or spool that another user owns or
 * can write (or that sits below such a directory) is refused with exit 77
 * before anything in it is read or run, as ssh's StrictModes does; doctor
 * names the path. Ownership cases need a second local user: as root (CI),
 * a throwaway user is created and removed; otherwise those cases are
 * skipped with the reason printed. A one-shot process (the sendmail
 * command) walks the home's directories once, for config.json, and its
 * spool open does not walk them again; a config.json that is a link to a
 * file elsewhere still leaves the home to its own check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import fsSync, { existsSync } from 'node:fs';
import path from 'node:path';
import { makeHomeInBase, makeTempHome, writeConfig } from '../support/home.js';
import { runCli, SENDMAIL } from '../support/cli.js';
import { loadStoredConfig } from '../../src/config/store.js';
import { openSpool } from '../../src/spool/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const NOT_ROOT = 'needs root to create a second local user (useradd); CI runs the suite as root';

/** A throwaway local user for the duration of one test; returns its uid. */
function throwawayUser(t: { after: (fn: () => void) => void }): { name: string; uid: number } {
  const name = `bmfault${randomBytes(3).toString('hex')}`;
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  t.after(() => execFileSync('userdel', [name]));
  return { name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim()) };
}

const MESSAGE = 'From: ada@example.org\nSubject: hi\n\nbody\n';

test('a home owned by another user is refused (77) before its config is read: its passwordCommand never runs', { skip: isRoot ? false : NOT_ROOT }, async (t) => {
  const { home: base, cleanup } = await makeTempHome();
  t.after(cleanup);
  const mallory = throwawayUser(t);
  const home = path.join(base, 'theirs');
  await fs.mkdir(home, { mode: 0o700 });
  const marker = path.join(base, 'password-command-ran');
  await writeConfig(home, { smarthost: 'smtp://user@127.0.0.1:9', auth: { passwordCommand: `touch ${marker}; echo secret` } });
  await fs.chown(home, mallory.uid, mallory.uid);
  await fs.chown(path.join(home, 'config.json'), mallory.uid, mallory.uid);
  for (const args of [['flush'], ['status'], ['config', 'list']]) {
    const result = await runCli(args, { home });
    assert.equal(result.code, 77, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${home.replace(/[/.]/g, '\\$&')}.* is owned by uid ${mallory.uid} \\(${mallory.name}\\)`));
  }
  const sendmail = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(sendmail.code, 77, sendmail.stderr);
  assert.ok(!existsSync(marker), 'the other user\'s passwordCommand ran');
  assert.ok(!existsSync(path.join(home, 'spool')), 'nothing was created in their home');
  const doctor = await runCli(['doctor', '--json'], { home });
  const trust = (JSON.parse(doctor.stdout) as { checks: Array<{ id: string; status: string; detail: string }> }).checks.find((c) => c.id === 'trust');
  assert.equal(trust?.status, 'fail');
  assert.match(trust?.detail ?? '', /is owned by uid/);
});

test('our home with a config.json owned by another user, or below a directory they own, is refused (77)', { skip: isRoot ? false : NOT_ROOT }, async (t) => {
  const { home: base, cleanup } = await makeTempHome();
  t.after(cleanup);
  const mallory = throwawayUser(t);
  const home = path.join(base, 'home');
  await fs.mkdir(home, { mode: 0o700 });
  await writeConfig(home, { from: 'ada@example.org' });
  await fs.chown(path.join(home, 'config.json'), mallory.uid, mallory.uid);
  // Every command that reads config.json refuses it (status reads only the spool).
  const config = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(config.code, 77, config.stderr);
  assert.match(config.stderr, /config\.json is owned by uid/);
  assert.equal((await runCli(['flush'], { home })).code, 77);

  const parent = path.join(base, 'their-dir');
  await fs.mkdir(parent, { mode: 0o755 });
  const below = path.join(parent, 'home');
  await fs.mkdir(below, { mode: 0o700 });
  await fs.chown(parent, mallory.uid, mallory.uid);
  const nested = await runCli(['status'], { home: below });
  assert.equal(nested.code, 77, nested.stderr);
  assert.match(nested.stderr, new RegExp(`${parent.replace(/[/.]/g, '\\$&')} is owned by uid ${mallory.uid}`));
});

test('a home or a directory above it writable by group or others is refused (77); a sticky /tmp above is fine', async (t) => {
  const { base, home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  const fine = await runCli(['status'], { home });
  assert.equal(fine.code, 0, fine.stderr); // base is in the sticky, world-writable tmp directory
  await fs.chmod(home, 0o775);
  const group = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(group.code, 77, group.stderr);
  assert.match(group.stderr, /is writable by its group \(mode 0775\).*chmod go-w/);
  await fs.chmod(home, 0o700);
  await fs.chmod(base, 0o777);
  const world = await runCli(['status'], { home });
  assert.equal(world.code, 77, world.stderr);
  assert.match(world.stderr, /is writable by everyone \(mode 0777\)/);
  const doctor = await runCli(['doctor'], { home });
  assert.equal(doctor.code, 1, doctor.stdout);
  assert.match(doctor.stdout, /writable by everyone/);
  await fs.chmod(base, 0o700);
});

test('config.json a link to a sound file elsewhere does not vouch for the home: a group-writable home is still refused (77)', async (t) => {
  const { base, home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  const elsewhere = path.join(base, 'elsewhere');
  await fs.mkdir(elsewhere, { mode: 0o700 });
  await fs.rename(path.join(home, 'config.json'), path.join(elsewhere, 'config.json'));
  await fs.symlink(path.join(elsewhere, 'config.json'), path.join(home, 'config.json'));
  const fine = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(fine.code, 0, fine.stderr);
  await fs.chmod(home, 0o770);
  const group = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(group.code, 77, group.stderr);
  assert.match(group.stderr, new RegExp(`the bulkmailer home ${home.replace(/[/.]/g, '\\$&')}: .* is writable by its group \\(mode 0770\\)`));
  await fs.chmod(home, 0o700);
});

test('a one-shot process does not take a home it passed on the way to config.json for trusted: a sticky world-writable home is refused (77)', async (t) => {
  const { home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  // Sticky and writable by everyone, like /tmp: fine above a home, never as the home.
  await fs.chmod(home, 0o1777);
  const sent = await runCli(['bob@example.net'], { home, bin: SENDMAIL, input: MESSAGE });
  assert.equal(sent.code, 77, sent.stderr);
  assert.match(sent.stderr, /is writable by everyone \(mode 1777\)/);
  const enqueued = await runCli(['enqueue', 'bob@example.net'], { home, input: MESSAGE });
  assert.equal(enqueued.code, 77, enqueued.stderr);
});

test('a one-shot process walks the home\'s directories once: config.json\'s check covers the spool open\'s', async (t) => {
  const { home } = await makeHomeInBase(t, { from: 'ada@example.org' });
  const realpaths: string[] = [];
  const homeStats: string[] = [];
  const { native } = fsSync.realpathSync;
  const { statSync } = fsSync;
  t.after(() => Object.assign(fsSync, { statSync }));
  t.after(() => Object.assign(fsSync.realpathSync, { native }));
  Object.assign(fsSync.realpathSync, { native: (p: fsSync.PathLike, ...rest: []) => (realpaths.push(String(p)), native(p, ...rest)) });
  Object.assign(fsSync, { statSync: (p: fsSync.PathLike, ...rest: [never]) => (String(p) === home && homeStats.push(String(p)), statSync(p, ...rest)) });
  assert.equal(loadStoredConfig(home, { oneShot: true }).from, 'ada@example.org');
  await openSpool(home, { only: 'enqueue' });
  Object.assign(fsSync.realpathSync, { native });
  Object.assign(fsSync, { statSync });
  assert.deepEqual(realpaths, [path.join(home, 'config.json')], 'one realpath, for config.json');
  assert.deepEqual(homeStats, [home], 'the home stat\'ed once');
});
