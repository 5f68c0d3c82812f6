/**
 * Issue 3: the autostart files of each kind, installed into a temp HOME:
 * content valid (the systemd unit through systemd-analyze verify where it
 * runs, and its sections and keys; the plist parsed; the desktop entry's
 * keys), the agent's command line read back with the same --home (a path
 * with a space, %, $ and a quote in it), install twice harmless, uninstall
 * removes exactly what install added, and never a file that is not ours.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseSystemdCommand } from '../../src/autostart/systemd.js';
import { parsePlist } from '../../src/autostart/plist.js';
import { launchdKind } from '../../src/autostart/launchd.js';
import { makeAutostartEnv } from '../../src/autostart/common.js';
import { parseExec } from '../../src/autostart/xdg.js';
import { BULKMAILER } from '../support/cli.js';
import { listFiles, makeSandbox, type AutostartSandbox } from './fakes.js';

let sb: AutostartSandbox;
let argv: string[];

before(async () => {
  sb = await makeSandbox();
  argv = [process.execPath, BULKMAILER, '--home', sb.bmHome, 'agent'];
});
after(() => sb.cleanup());

/** INI-style groups: { group: { key: value } }, rejecting duplicate keys and keys outside a group. */
function parseIni(text: string): Record<string, Record<string, string>> {
  const groups: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | null = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const group = /^\[([^\]]+)\]$/.exec(line);
    if (group) {
      assert.ok(!(group[1]! in groups), `duplicate group ${group[1]}`);
      current = groups[group[1]!] = {};
      continue;
    }
    const kv = /^([A-Za-z0-9-]+)=(.*)$/.exec(line);
    assert.ok(kv && current, `bad line: ${line}`);
    assert.ok(!(kv[1]! in current), `duplicate key ${kv[1]}`);
    current[kv[1]!] = kv[2]!;
  }
  return groups;
}

test('systemd: a valid user unit, enabled through systemctl --user; install twice; uninstall', async () => {
  const before = await listFiles(sb.userHome);
  const first = await sb.run(['autostart', 'install', '--kind', 'systemd']);
  assert.equal(first.code, 0, first.stderr);
  const file = path.join(sb.userHome, '.config', 'systemd', 'user', 'bulkmailer-agent.service');
  assert.match(first.stdout, new RegExp(`systemd: installed: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const text = await fs.readFile(file, 'utf8');
  const unit = parseIni(text);
  assert.deepEqual(Object.keys(unit), ['Unit', 'Service', 'Install']);
  assert.deepEqual(parseSystemdCommand(unit.Service!.ExecStart!), argv);
  assert.equal(unit.Service!.Restart, 'on-failure');
  assert.equal(unit.Install!.WantedBy, 'default.target');
  assert.ok(Number(unit.Service!.TimeoutStopSec) > 15, 'systemd waits longer than the agent does');

  const analyze = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 });
  if (analyze.error === undefined && !/Failed to initialize manager/.test(analyze.stderr)) {
    assert.equal(analyze.status, 0, analyze.stderr);
    assert.doesNotMatch(analyze.stderr, /bulkmailer-agent\.service:\d+:/, 'no unknown keys or bad values');
  }

  assert.deepEqual(await sb.systemctlCalls(), [
    '--user daemon-reload',
    '--user enable bulkmailer-agent.service',
    '--user restart bulkmailer-agent.service',
  ]);
  const second = await sb.run(['autostart', 'install', '--kind', 'systemd']);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /systemd: already installed/);
  assert.equal(await fs.readFile(file, 'utf8'), text);
  assert.equal((await sb.systemctlCalls()).at(-1), '--user start bulkmailer-agent.service');

  const status = JSON.parse((await sb.run(['autostart', 'status', '--kind', 'systemd', '--json'])).stdout);
  assert.equal(status.kinds[0].installed, true);
  assert.equal(status.kinds[0].home, sb.bmHome);
  assert.deepEqual(status.kinds[0].details, ['systemctl is-enabled: enabled', 'systemctl is-active: active']);
  assert.equal(status.running, null);

  const removed = await sb.run(['autostart', 'uninstall', '--kind', 'systemd']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual((await sb.systemctlCalls()).slice(-2), ['--user disable --now bulkmailer-agent.service', '--user daemon-reload']);
  assert.deepEqual(
    (await listFiles(sb.userHome)).filter((f) => f !== 'systemctl.log'),
    before.filter((f) => f !== 'systemctl.log'),
  );
  const again = await sb.run(['autostart', 'uninstall', '--kind', 'systemd']);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /systemd: was not installed/);
});

test('systemd without a usable systemctl: the unit is written and the commands to run are printed', async () => {
  const r = await sb.run(['autostart', 'install', '--kind', 'systemd'], { BULKMAILER_SYSTEMCTL: path.join(sb.userHome, 'none') });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /still to do:\n {4}systemctl --user daemon-reload\n {4}systemctl --user enable --now bulkmailer-agent\.service/);
  const u = await sb.run(['autostart', 'uninstall', '--kind', 'systemd'], { BULKMAILER_SYSTEMCTL: path.join(sb.userHome, 'none') });
  assert.match(u.stdout, /systemd: removed/);
});

test('launchd (the module, as on macOS: the CLI refuses launchd elsewhere): a well-formed plist with RunAtLoad and KeepAlive; install twice; uninstall', async () => {
  const env = makeAutostartEnv(sb.bmHome, { env: { ...process.env, ...sb.env }, platform: 'darwin', binPath: BULKMAILER });
  const report = await launchdKind.install(env);
  assert.equal(report.change, 'installed');
  assert.match(report.todo.join('\n'), /^launchctl bootstrap gui\/\d+ /m);
  const file = path.join(sb.userHome, 'Library', 'LaunchAgents', 'org.bulkmailer.agent.plist');
  const text = await fs.readFile(file, 'utf8');
  const plist = parsePlist(text) as Record<string, unknown>;
  assert.equal(plist.Label, 'org.bulkmailer.agent');
  assert.deepEqual(plist.ProgramArguments, argv);
  assert.equal(plist.RunAtLoad, true);
  assert.deepEqual(plist.KeepAlive, { SuccessfulExit: false });
  assert.ok((plist.ExitTimeOut as number) > 15);
  const lint = spawnSync('plutil', ['-lint', file], { encoding: 'utf8' });
  if (lint.error === undefined) assert.equal(lint.status, 0, lint.stdout + lint.stderr);

  assert.equal((await launchdKind.install(env)).change, 'unchanged');
  assert.equal(await fs.readFile(file, 'utf8'), text);
  const status = await launchdKind.status(env);
  assert.deepEqual([status.installed, status.home], [true, sb.bmHome]);
  assert.equal((await launchdKind.uninstall(env)).removed, true);
  await assert.rejects(fs.stat(file));
});

test('the plist parser rejects what is not a plist', () => {
  assert.throws(() => parsePlist('<plist version="1.0"><dict><key>A</key></dict></plist>'));
  assert.throws(() => parsePlist('<plist><dict><key>A</key><string>x</dict></plist>'));
  assert.throws(() => parsePlist('<plist><array><string>a</string></array></plist> trailing'));
  assert.deepEqual(parsePlist('<plist><dict><key>A&amp;B</key><array><true/><integer>3</integer></array></dict></plist>'), {
    'A&B': [true, 3],
  });
});

test('xdg: a desktop entry with the keys sessions need; install twice; uninstall', async () => {
  const r = await sb.run(['autostart', 'install', '--kind', 'xdg']);
  assert.equal(r.code, 0, r.stderr);
  const file = path.join(sb.userHome, '.config', 'autostart', 'bulkmailer-agent.desktop');
  const text = await fs.readFile(file, 'utf8');
  const entry = parseIni(text);
  assert.deepEqual(Object.keys(entry), ['Desktop Entry']);
  const d = entry['Desktop Entry']!;
  assert.equal(d.Type, 'Application');
  assert.equal(d.Name, 'bulkmailer agent');
  assert.equal(d.Terminal, 'false');
  assert.equal(d['X-GNOME-Autostart-enabled'], 'true');
  assert.equal(d.TryExec, process.execPath);
  assert.deepEqual(parseExec(d.Exec!), argv);
  assert.doesNotMatch(d.Exec!.replace(/%%/g, ''), /%[a-zA-Z]/, 'no field codes');
  const validate = spawnSync('desktop-file-validate', [file], { encoding: 'utf8' });
  if (validate.error === undefined) assert.equal(validate.status, 0, validate.stdout + validate.stderr);

  assert.match((await sb.run(['autostart', 'install', '--kind', 'xdg'])).stdout, /xdg: already installed/);
  assert.match((await sb.run(['autostart', 'uninstall', '--kind', 'xdg'])).stdout, /xdg: removed/);
  await assert.rejects(fs.stat(file));
});

test('a file of the same name that bulkmailer did not write is never replaced or removed', async () => {
  const file = path.join(sb.userHome, '.config', 'autostart', 'bulkmailer-agent.desktop');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '[Desktop Entry]\nType=Application\nName=mine\nExec=true\n');
  const install = await sb.run(['autostart', 'install', '--kind', 'xdg']);
  assert.equal(install.code, 73);
  assert.match(install.stderr, /was not written by bulkmailer/);
  const uninstall = await sb.run(['autostart', 'uninstall', '--kind', 'xdg']);
  assert.equal(uninstall.code, 73);
  assert.match(await fs.readFile(file, 'utf8'), /Name=mine/);
  await fs.rm(file);
});
