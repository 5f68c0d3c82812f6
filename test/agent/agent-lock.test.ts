/**
 * The agent and the instance lock: a second agent exits 0 at once (so an
 * autostart that fires twice is harmless); an agent that finds a one-shot
 * flush holding the spool waits for it and then takes over; SIGHUP
 * re-reads config (and keeps the old one when the new one is broken);
 * a bad config at start is exit 78.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import type { CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { instanceLockPath, openSpool, tryLock } from '../../src/spool/index.js';
import { agentTestHome, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

agentTestHome((h, s) => {
  home = h;
  server = s;
});

test('a second agent says who runs and exits 0', async () => {
  const first = startAgent(home.home);
  await first.waitFor('flush-start', (e) => e.n === 1);
  const second = await runCli(['agent'], { home: home.home, timeoutMs: 20_000 });
  assert.equal(second.code, 0);
  assert.match(second.stderr, new RegExp(`another agent is running \\(pid ${first.pid}\\)`));
  // --kind xdg with HOME and XDG_CONFIG_HOME in the temp dir: status reads nothing of the real user's.
  const status = await runCli(['autostart', 'status', '--kind', 'xdg', '--json'], {
    home: home.home,
    env: { HOME: home.home, XDG_CONFIG_HOME: '' },
  });
  assert.equal(JSON.parse(status.stdout).running.kind, 'agent');
  assert.equal(JSON.parse(status.stdout).running.pid, first.pid);
  assert.equal((await first.stop('SIGTERM')).code, 0);
});

test('an agent waits for a one-shot flush to finish, then takes over', async () => {
  const spool = await openSpool(home.home);
  const held = tryLock(instanceLockPath(spool));
  assert.ok(held.acquired);
  const agent = startAgent(home.home);
  await agent.waitFor('waiting', (e) => e.pid === process.pid);
  assert.equal(agent.count('ready'), 0);
  held.lock.release();
  await agent.waitFor('ready');
  assert.equal((await agent.stop('SIGTERM')).code, 0);
});

test('SIGHUP re-reads config; a broken config is refused and the old one kept', async () => {
  const agent = startAgent(home.home);
  await agent.waitFor('flush-start', (e) => e.n === 1);
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 2 1 *' });
  agent.child.kill('SIGHUP');
  const { index } = await agent.waitFor('reloaded', (e) => e.schedule === '0 0 2 1 *');
  await agent.waitFor('flush-start', (e) => e.reasons.includes('reload'), { from: index });

  await writeConfig(home.home, { smarthost: server.url, schedule: 'every minute please' });
  agent.child.kill('SIGHUP');
  await agent.waitFor('reload-failed', (e) => e.error.includes('`schedule`'));
  assert.equal((await agent.stop('SIGTERM')).code, 0);
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 1 1 *' });
});

test('a bad schedule at start is a config error (exit 78), logged to agent.log', async () => {
  const bad = await makeTempHome();
  try {
    await writeConfig(bad.home, { smarthost: server.url, schedule: '61 * * * *' });
    const result = await runCli(['agent'], { home: bad.home, timeoutMs: 20_000 });
    assert.equal(result.code, 78, result.stderr);
    assert.match(result.stderr, /schedule: "61 \* \* \* \*" is not a cron expression/);
    const log = await fs.readFile(path.join(bad.home, 'log', 'agent.log'), 'utf8');
    assert.match(log, /cannot start: schedule/);
  } finally {
    await bad.cleanup();
  }
});
