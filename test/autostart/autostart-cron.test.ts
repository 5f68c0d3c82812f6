/**
 * Issue 3: the cron kind edits the user's crontab (a fake crontab program
 * keeping it in a file of the temp HOME) without disturbing other lines:
 * one marked line, replaced not duplicated, removed exactly; the line
 * itself runs `flush` for the right --home when a shell executes it.
 * Also: no crontab program is exit 69; auto-detection without systemd or
 * a desktop picks cron; uninstall without --kind removes every kind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseCronCommand } from '../../src/autostart/cron.js';
import { BULKMAILER } from '../support/cli.js';
import { makeSandbox, type AutostartSandbox } from './fakes.js';

let sb: AutostartSandbox;
const USER_CRONTAB = [
  '# my own jobs',
  'MAILTO=""',
  '0 3 * * * /usr/bin/backup --all >/dev/null 2>&1',
  '*/15 * * * * echo "100\\% done"',
  '',
].join('\n');

before(async () => {
  sb = await makeSandbox();
});
after(() => sb.cleanup());

const writes = async () => (await fs.readFile(path.join(sb.userHome, 'crontab-writes'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

test('cron: one marked line added, replaced, removed; the rest of the crontab untouched', async () => {
  await fs.writeFile(sb.crontabFile, USER_CRONTAB);
  const r = await sb.run(['autostart', 'install', '--kind', 'cron', '--every', '10']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cron: installed: crontab/);
  let crontab = await fs.readFile(sb.crontabFile, 'utf8');
  assert.ok(crontab.startsWith(USER_CRONTAB), 'the user lines come first, unchanged');
  const ours = crontab.slice(USER_CRONTAB.length).split('\n').filter(Boolean);
  assert.equal(ours.length, 1);
  assert.match(ours[0]!, /^\*\/10 \* \* \* \* .* # bulkmailer-autostart$/);
  const command = ours[0]!.replace(/^(\S+\s+){5}/, '');
  assert.deepEqual(parseCronCommand(command), [process.execPath, BULKMAILER, '--home', sb.bmHome, 'flush', '--quiet']);

  // What cron does with the line: unescape \% and hand it to /bin/sh. The flush runs for our home.
  const shell = spawnSync('/bin/sh', ['-c', command.replace(/\\%/g, '%')], {
    env: { PATH: '/usr/bin:/bin', HOME: sb.userHome },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(shell.status, 0, shell.stderr);
  await fs.stat(path.join(sb.bmHome, 'spool', 'state'));

  const count = await writes();
  assert.match((await sb.run(['autostart', 'install', '--kind', 'cron', '--every', '10'])).stdout, /cron: already installed/);
  assert.equal(await writes(), count, 'an unchanged crontab is not rewritten');

  assert.match((await sb.run(['autostart', 'install', '--kind', 'cron', '--every', '15'])).stdout, /cron: updated/);
  crontab = await fs.readFile(sb.crontabFile, 'utf8');
  assert.equal(crontab.split('\n').filter((l) => l.includes('bulkmailer-autostart')).length, 1);
  assert.match(crontab, /^\*\/15 \* \* \* \* .*flush' '--quiet' # bulkmailer-autostart$/m);

  const status = JSON.parse((await sb.run(['autostart', 'status', '--kind', 'cron', '--json'])).stdout);
  assert.deepEqual(status.kinds[0], { kind: 'cron', target: 'crontab', installed: true, home: sb.bmHome, details: ['flush every 15 minutes'] });

  assert.match((await sb.run(['autostart', 'uninstall', '--kind', 'cron'])).stdout, /cron: removed/);
  assert.equal(await fs.readFile(sb.crontabFile, 'utf8'), USER_CRONTAB);
  assert.match((await sb.run(['autostart', 'uninstall', '--kind', 'cron'])).stdout, /cron: was not installed/);
});

test('cron with no crontab yet, and --every out of range', async () => {
  await fs.rm(sb.crontabFile, { force: true });
  assert.equal((await sb.run(['autostart', 'install', '--kind', 'cron'])).code, 0);
  assert.match(await fs.readFile(sb.crontabFile, 'utf8'), /^\*\/5 \* \* \* \* .*# bulkmailer-autostart\n$/);
  assert.equal((await sb.run(['autostart', 'uninstall', '--kind', 'cron'])).code, 0);
  assert.equal(await fs.readFile(sb.crontabFile, 'utf8'), '');
  const bad = await sb.run(['autostart', 'install', '--kind', 'cron', '--every', '90']);
  assert.equal(bad.code, 64);
});

test('no crontab program: exit 69 and a hint', async () => {
  const r = await sb.run(['autostart', 'install', '--kind', 'cron'], { BULKMAILER_CRONTAB: path.join(sb.userHome, 'none') });
  assert.equal(r.code, 69);
  assert.match(r.stderr, /crontab is not installed/);
});

test('without --kind: install detects (no user bus, no desktop: cron); uninstall removes every kind installed', async () => {
  const env = { DBUS_SESSION_BUS_ADDRESS: '' };
  const install = await sb.run(['autostart', 'install'], env);
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /^cron: installed/);
  // A second kind for the same home: installed, with a warning naming the other and how to remove it.
  const second = await sb.run(['autostart', 'install', '--kind', 'xdg'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /warning: cron is installed too: two starters for one home .* bulkmailer autostart uninstall --kind cron/);
  const status = await sb.run(['autostart', 'status'], env);
  assert.match(status.stdout, /^cron +installed/m);
  assert.match(status.stdout, /^xdg +installed/m);
  assert.match(status.stdout, /^systemd +not installed/m);
  assert.match(status.stdout, /^agent +not running/m);
  const all = await sb.run(['autostart', 'uninstall'], env);
  assert.match(all.stdout, /xdg: removed/);
  assert.match(all.stdout, /cron: removed/);
  assert.doesNotMatch((await sb.run(['autostart', 'status'], env)).stdout, /^\S+ +installed/m);
});

test('listener.enabled with cron: the agent (which runs the listener) also starts at boot, with a warning; uninstall removes both lines', async () => {
  await fs.writeFile(sb.crontabFile, USER_CRONTAB);
  await fs.mkdir(sb.bmHome, { recursive: true });
  await fs.writeFile(path.join(sb.bmHome, 'config.json'), JSON.stringify({ listener: { enabled: true } }), { mode: 0o600 });
  try {
    const r = await sb.run(['autostart', 'install', '--kind', 'cron'], { DBUS_SESSION_BUS_ADDRESS: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: listener\.enabled: a cron flush does not listen, so cron also starts the agent \(and its SMTP listener\) at boot/);
    assert.match(r.stdout, /still to do:\n {4}the SMTP listener runs in the agent, which cron starts at boot \(@reboot\); to start it now: /);
    const ours = (await fs.readFile(sb.crontabFile, 'utf8')).slice(USER_CRONTAB.length).split('\n').filter(Boolean);
    assert.equal(ours.length, 2);
    assert.match(ours[0]!, /^\*\/5 \* \* \* \* .*'flush' '--quiet' # bulkmailer-autostart$/);
    const boot = /^@reboot (.*) >\/dev\/null 2>&1 # bulkmailer-autostart$/.exec(ours[1]!);
    assert.ok(boot, ours[1]);
    assert.deepEqual(parseCronCommand(boot[1]!), [process.execPath, BULKMAILER, '--home', sb.bmHome, 'agent']);
    const status = JSON.parse((await sb.run(['autostart', 'status', '--kind', 'cron', '--json'])).stdout);
    assert.deepEqual(status.kinds[0].details, ['flush every 5 minutes', 'agent at boot (for the listener)']);
    assert.match((await sb.run(['autostart', 'uninstall', '--kind', 'cron'])).stdout, /cron: removed/);
    assert.equal(await fs.readFile(sb.crontabFile, 'utf8'), USER_CRONTAB);
  } finally {
    await fs.rm(path.join(sb.bmHome, 'config.json'), { force: true });
  }
});

test('refusals: a kind of another platform, --every with a kind that is not cron; nothing is written', async () => {
  const before = await fs.readFile(sb.crontabFile, 'utf8').catch(() => null);
  const calls = (await sb.systemctlCalls()).length;
  const launchd = await sb.run(['autostart', 'install', '--kind', 'launchd']);
  assert.equal(launchd.code, 64);
  assert.match(launchd.stderr, /--kind launchd cannot run on linux; use systemd, xdg, cron/);
  await assert.rejects(fs.stat(path.join(sb.userHome, 'Library')));
  const every = await sb.run(['autostart', 'install', '--kind', 'systemd', '--every', '10']);
  assert.equal(every.code, 64);
  assert.match(every.stderr, /--every is for --kind cron only: the systemd kind runs the agent, which flushes on its schedule/);
  const detected = await sb.run(['autostart', 'install', '--every', '10'], { XDG_CURRENT_DESKTOP: 'GNOME', DBUS_SESSION_BUS_ADDRESS: '' });
  assert.equal(detected.code, 64);
  assert.match(detected.stderr, /this system's kind is xdg/);
  await assert.rejects(fs.stat(path.join(sb.userHome, '.config', 'autostart', 'bulkmailer-agent.desktop')));
  assert.equal(await fs.readFile(sb.crontabFile, 'utf8').catch(() => null), before);
  assert.equal((await sb.systemctlCalls()).length, calls, 'systemctl not called');
});
