/**
 * Issue 3: the autostart files of each kind, installed into a temp HOME:
 * content valid (the systemd unit through systemd-analyze verify where it
 * runs, and its sections and keys; the plist parsed; the desktop entry's
 * keys), the agent's command line read back with the same --home (a path
 * with a space, %, $ and a quote in it), install twice harmless, uninstall
 * removes exactly what install added, and never a file that is not ours.
 *
 * On Linux there is no plutil, and desktop-file-validate (desktop-file-utils)
 * is rarely installed; CI installs nothing outside npm (it is offline from
 * everything but the npm registry, and apt needs root and a Debian mirror),
 * so the external validators run only where they exist (and say so when
 * they do not). What every machine checks instead: both files against
 * expected texts written by hand from the specifications (Apple's plist DTD
 * and XML escaping; the Desktop Entry spec's Exec quoting and the string
 * type's escaping), for a --home that needs every escape; plus the files
 * parsed back into the argv.
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
import { renderLaunchAgent } from '../../src/autostart/launchd.js';
import { parseExec, renderDesktopEntry } from '../../src/autostart/xdg.js';
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

test('launchd (the module, as on macOS: the CLI refuses launchd elsewhere): a well-formed plist with RunAtLoad and KeepAlive; install twice; uninstall', async (t) => {
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
  else t.diagnostic('plutil is not installed here: the plist is checked against the hand-written text below only');

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

test('xdg: a desktop entry with the keys sessions need; install twice; uninstall', async (t) => {
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
  else t.diagnostic('desktop-file-validate is not installed here: the entry is checked against the hand-written text below only');

  assert.match((await sb.run(['autostart', 'install', '--kind', 'xdg'])).stdout, /xdg: already installed/);
  assert.match((await sb.run(['autostart', 'uninstall', '--kind', 'xdg'])).stdout, /xdg: removed/);
  await assert.rejects(fs.stat(file));
});

/** A --home that needs every escape both formats have: space, %, $, ", \\, &, <, >. */
const NASTY_HOME = '/home/u/a b/%x$y"z\\w&<>';
const fixedEnv = () => makeAutostartEnv(NASTY_HOME, { env: { HOME: '/home/u' }, nodePath: '/usr/bin/node', binPath: '/opt/bm/bin/bulkmailer' });

test('the plist is what Apple\'s DTD and XML escaping make of it (written by hand, not by our renderer)', () => {
  const expected = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    // "--" may not appear inside an XML comment.
    '<!-- bulkmailer-autostart: written by "bulkmailer autostart install"; remove with "bulkmailer autostart uninstall - -kind launchd". -->',
    '<plist version="1.0">',
    '<dict>',
    '\t<key>Label</key>',
    '\t<string>org.bulkmailer.agent</string>',
    '\t<key>ProgramArguments</key>',
    '\t<array>',
    '\t\t<string>/usr/bin/node</string>',
    '\t\t<string>/opt/bm/bin/bulkmailer</string>',
    '\t\t<string>--home</string>',
    '\t\t<string>/home/u/a b/%x$y&quot;z\\w&amp;&lt;&gt;</string>',
    '\t\t<string>agent</string>',
    '\t</array>',
    '\t<key>RunAtLoad</key>',
    '\t<true/>',
    '\t<key>KeepAlive</key>',
    '\t<dict>',
    '\t\t<key>SuccessfulExit</key>',
    '\t\t<false/>',
    '\t</dict>',
    '\t<key>ProcessType</key>',
    '\t<string>Background</string>',
    '\t<key>ExitTimeOut</key>',
    '\t<integer>30</integer>',
    '\t<key>ThrottleInterval</key>',
    '\t<integer>10</integer>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
  assert.equal(renderLaunchAgent(fixedEnv()), expected);
});

test('the desktop entry follows the Desktop Entry spec (written by hand, not by our renderer)', () => {
  const text = renderDesktopEntry(fixedEnv());
  const lines = text.split('\n');
  // The spec: comments and blank lines, then the [Desktop Entry] group first; Key=Value, keys [A-Za-z0-9-].
  assert.match(lines[0]!, /^#/);
  assert.equal(lines[1], '[Desktop Entry]');
  for (const line of lines.slice(2).filter((l) => l !== '')) assert.match(line, /^[A-Za-z0-9-]+=/, line);
  const entry = parseIni(text)['Desktop Entry']!;
  // Required for Type=Application: Name and Exec; booleans are exactly true/false.
  assert.equal(entry.Type, 'Application');
  assert.equal(entry.Version, '1.0');
  for (const key of ['Terminal', 'NoDisplay', 'X-GNOME-Autostart-enabled']) assert.match(entry[key]!, /^(true|false)$/, key);
  // Every key is one the spec defines, or an X- extension.
  const known = ['Type', 'Version', 'Name', 'Comment', 'TryExec', 'Exec', 'Terminal', 'NoDisplay'];
  for (const key of Object.keys(entry)) assert.ok(known.includes(key) || key.startsWith('X-'), key);
  // Exec: each argument quoted; inside quotes ", `, $ and \ are backslash-escaped and % is %%;
  // then the string type escapes each backslash once more.
  assert.equal(entry.Exec, '"/usr/bin/node" "/opt/bm/bin/bulkmailer" "--home" "/home/u/a b/%%x\\\\$y\\\\"z\\\\\\\\w&<>" "agent"');
  assert.deepEqual(parseExec(entry.Exec!), ['/usr/bin/node', '/opt/bm/bin/bulkmailer', '--home', NASTY_HOME, 'agent']);
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
