/**
 * doctor against real loopback smarthosts: a healthy one (STARTTLS with a
 * certificate trusted through tls.caFile, AUTH accepted), one that is down,
 * one whose certificate does not verify, one that rejects AUTH; plus a
 * broken config and a spool others can read. Exit 0 only when every check
 * passes; each failure carries a fix; --json for scripts; no mail is sent.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { runCli, type RunResult } from '../support/cli.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { openSpool } from '../../src/spool/index.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const CERT = path.join(FIXTURES, 'localhost-cert.pem');
const KEY = path.join(FIXTURES, 'localhost-key.pem');
const USER = 'relay-user';
const PASSWORD = 'doctor-Pa55-word-4c1b';
const env = { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' };

interface Check {
  id: string;
  title: string;
  status: 'pass' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}

async function startTlsSmarthost(): Promise<CaptureServer & { auths: string[] }> {
  const auths: string[] = [];
  const server = await startCaptureServer({
    server: {
      key: await fs.readFile(KEY),
      cert: await fs.readFile(CERT),
      disabledCommands: [],
      onAuth(auth, _session, callback) {
        auths.push(auth.username ?? '');
        if (auth.username === USER && auth.password === PASSWORD) callback(null, { user: USER });
        else callback(new Error('Invalid username or password'));
      },
    },
  });
  return Object.assign(server, { auths });
}

/**
 * The report `doctor --json` printed. A run that printed none fails with
 * its exit status and stderr: a bare "Unexpected end of JSON input" (a
 * failure seen once under load) says nothing of why.
 */
function reportOf(run: RunResult): { ok: boolean; checks: Check[] } {
  try {
    return JSON.parse(run.stdout) as { ok: boolean; checks: Check[] };
  } catch (err) {
    return assert.fail(`doctor --json printed no JSON report (${(err as Error).message}): exit ${run.code}, signal ${run.signal}; stdout ${JSON.stringify(run.stdout)}; stderr ${JSON.stringify(run.stderr)}`);
  }
}

async function doctor(home: string): Promise<{ code: number | null; checks: Check[]; ok: boolean; stdout: string; stderr: string }> {
  const run = await runCli(['doctor', '--json'], { home, env });
  const report = reportOf(run);
  return { code: run.code, checks: report.checks, ok: report.ok, stdout: run.stdout, stderr: run.stderr };
}

function check(checks: Check[], id: string): Check {
  return checks.find((c) => c.id === id) ?? assert.fail(`no ${id} check in ${JSON.stringify(checks.map((c) => c.id))}`);
}

describe('doctor', () => {
  let home: TempHome;
  let tlsServer: CaptureServer & { auths: string[] };

  before(async () => {
    tlsServer = await startTlsSmarthost();
  });
  after(() => tlsServer.close());
  beforeEach(async () => {
    home = await makeTempHome();
    await openSpool(home.home);
  });
  afterEach(() => home.cleanup());

  test('a healthy smarthost: every check passes, exit 0, AUTH tried, no mail sent', async () => {
    await writeConfig(home.home, {
      smarthost: `smtp://${USER}@127.0.0.1:${tlsServer.port}`,
      tls: { caFile: CERT },
      auth: { pass: PASSWORD },
      from: 'list@example.org',
    });
    const before = tlsServer.auths.length;
    const result = await doctor(home.home);
    assert.equal(result.code, 0, result.stdout);
    assert.equal(result.ok, true);
    for (const id of ['config', 'config.smarthost', 'config.from', 'spool', 'smarthost.resolve', 'smarthost.reach', 'smarthost.tls', 'smarthost.auth', 'clock', 'agent']) {
      assert.equal(check(result.checks, id).status, 'pass', JSON.stringify(check(result.checks, id)));
    }
    assert.match(check(result.checks, 'smarthost.reach').detail, /^220 /);
    assert.match(check(result.checks, 'smarthost.tls').detail, /STARTTLS offered and negotiated, TLSv1\.[23], certificate verified; certificate for localhost/);
    assert.match(check(result.checks, 'smarthost.auth').detail, /authenticated as relay-user \(no mail sent\)/);
    assert.equal(tlsServer.auths.length, before + 1);
    assert.equal(tlsServer.messages.length, 0);
    assert.ok(!result.stdout.includes(PASSWORD));

    const human = await runCli(['doctor'], { home: home.home, env });
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^\[ok  \] config valid: /m);
    assert.match(human.stdout, /^\[ok  \] smtp:\/\/relay-user@127\.0\.0\.1:\d+: AUTH accepted: authenticated as relay-user/m);
    assert.match(human.stdout, /^all checks passed$/m);
    assert.ok(!human.stdout.includes(PASSWORD));
  });

  test('a smarthost that is down: reach fails with a fix, later steps skipped, exit 1', async () => {
    const gone = await startCaptureServer();
    const port = gone.port;
    await gone.close();
    await writeConfig(home.home, { smarthost: `smtp://127.0.0.1:${port}` });
    const result = await doctor(home.home);
    assert.equal(result.code, 1);
    assert.equal(result.ok, false);
    const reach = check(result.checks, 'smarthost.reach');
    assert.equal(reach.status, 'fail');
    assert.match(reach.detail, /ECONNREFUSED/);
    assert.match(reach.fix ?? '', /nothing listens on 127\.0\.0\.1:\d+/);
    assert.equal(check(result.checks, 'smarthost.tls').status, 'skip');
    assert.equal(check(result.checks, 'smarthost.auth').status, 'skip');
    const human = await runCli(['doctor'], { home: home.home, env });
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^\[FAIL\] smtp:\/\/127\.0\.0\.1:\d+: reachable, greeting: ECONNREFUSED\n {7}fix: nothing listens/m);
    assert.match(human.stdout, /^1 check failed$/m);
  });

  test('a certificate that does not verify: TLS fails with a tls.caFile fix, exit 1', async () => {
    await writeConfig(home.home, { smarthost: `smtp://${USER}@127.0.0.1:${tlsServer.port}`, auth: { pass: PASSWORD } });
    const result = await doctor(home.home);
    assert.equal(result.code, 1);
    assert.equal(check(result.checks, 'smarthost.reach').status, 'pass');
    const tls = check(result.checks, 'smarthost.tls');
    assert.equal(tls.status, 'fail');
    assert.match(tls.detail, /self[- ]signed certificate/i);
    assert.match(tls.fix ?? '', /tls\.caFile/);
    assert.equal(check(result.checks, 'smarthost.auth').status, 'skip');
    assert.ok(!result.stdout.includes(PASSWORD));
  });

  test('a smarthost that rejects AUTH: auth fails with the reply and a fix, the password never shown', async () => {
    const wrong = 'wrong-Pa55-for-doctor';
    await writeConfig(home.home, {
      smarthost: `smtp://${USER}@127.0.0.1:${tlsServer.port}`,
      tls: { caFile: CERT },
      auth: { pass: wrong },
    });
    const result = await doctor(home.home);
    assert.equal(result.code, 1);
    assert.equal(check(result.checks, 'smarthost.tls').status, 'pass');
    const auth = check(result.checks, 'smarthost.auth');
    assert.equal(auth.status, 'fail');
    assert.match(auth.detail, /AUTH as relay-user refused: 535 /);
    assert.match(auth.fix ?? '', /auth\.user and the password/);
    const human = await runCli(['doctor'], { home: home.home, env });
    for (const text of [result.stdout, result.stderr, human.stdout, human.stderr]) assert.ok(!text.includes(wrong));
    assert.equal(tlsServer.messages.length, 0);
  });

  test('a broken config and a spool others can read both fail with fixes', async () => {
    await fs.writeFile(path.join(home.home, 'config.json'), JSON.stringify({ concurrency: 0 }));
    await fs.chmod(path.join(home.home, 'spool'), 0o755);
    const result = await doctor(home.home);
    assert.equal(result.code, 1);
    const config = check(result.checks, 'config');
    assert.equal(config.status, 'fail');
    assert.match(config.detail, /concurrency/);
    assert.match(config.fix ?? '', /bulkmailer config set/);
    const spool = check(result.checks, 'spool');
    assert.equal(spool.status, 'fail');
    assert.match(spool.detail, /mode 0755/);
    assert.equal(spool.fix, `chmod 700 ${path.join(home.home, 'spool')}`);
  });

  test('the autostart check reports and never fails doctor', async () => {
    await writeConfig(home.home, { smarthost: `smtp://127.0.0.1:${tlsServer.port}`, tls: { caFile: CERT } });
    const userHome = path.join(home.home, 'user');
    await fs.mkdir(userHome);
    // A user home of its own, and no crontab/systemctl on PATH: nothing of the real user is read.
    const run = await runCli(['doctor', '--json'], { home: home.home, env: { HOME: userHome, XDG_CONFIG_HOME: path.join(userHome, '.config'), PATH: path.dirname(process.execPath) } });
    const report = reportOf(run);
    const autostart = check(report.checks, 'autostart');
    assert.notEqual(autostart.status, 'fail');
    assert.equal(run.code, 0, run.stdout);
  });

  test("the README's first steps pass on a fresh home: no spool yet is fine; an unset from is a warning", async () => {
    const plain = await startCaptureServer();
    const fresh = path.join(home.home, 'fresh', 'home');
    try {
      for (const args of [['config', 'set', 'smarthost', plain.url], ['config', 'set', 'from', 'me@example.net']]) {
        const set = await runCli(['--home', fresh, ...args], { home: fresh, env });
        assert.equal(set.code, 0, set.stderr);
      }
      const result = await doctor(fresh);
      assert.equal(result.code, 0, result.stdout);
      assert.equal(check(result.checks, 'spool').status, 'pass');
      assert.match(check(result.checks, 'spool').detail, /not created yet: the first enqueue or flush creates it/);
      assert.equal(check(result.checks, 'config.from').status, 'pass');
      await assert.rejects(fs.stat(path.join(fresh, 'spool')), 'doctor only looks');

      const unset = await runCli(['--home', fresh, 'config', 'unset', 'from'], { home: fresh, env });
      assert.equal(unset.code, 0, unset.stderr);
      const human = await runCli(['doctor'], { home: fresh, env });
      assert.equal(human.code, 0, human.stdout);
      assert.match(human.stdout, /^\[warn\] sender address set: from is not set: mail queued without -f goes out as login@hostname/m);
      assert.match(human.stdout, /fix: bulkmailer config set from you@example\.net/);
    } finally {
      await plain.close();
    }
  });

  test('listener.enabled: doctor fails when nothing listens on its port, passes when something does', async () => {
    const plain = await startCaptureServer();
    const listening = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const port = (listening.address() as net.AddressInfo).port;
    try {
      await writeConfig(home.home, { smarthost: plain.url, from: 'me@example.net', listener: { enabled: true, port } });
      const up = await doctor(home.home);
      assert.equal(check(up.checks, 'listener').status, 'pass', JSON.stringify(check(up.checks, 'listener')));
      assert.equal(up.code, 0);
      await new Promise<void>((resolve) => listening.close(() => resolve()));
      const down = await doctor(home.home);
      const listener = check(down.checks, 'listener');
      assert.equal(listener.status, 'fail');
      assert.match(listener.detail, new RegExp(`nothing listens on 127\\.0\\.0\\.1:${port}: no agent is running`));
      assert.match(listener.fix ?? '', /bulkmailer agent/);
      assert.equal(down.code, 1);
      await writeConfig(home.home, { smarthost: plain.url, from: 'me@example.net' });
      assert.equal((await doctor(home.home)).checks.some((c) => c.id === 'listener'), false, 'no listener check when it is off');
    } finally {
      listening.close();
      await plain.close();
    }
  });
});
