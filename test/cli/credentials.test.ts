/**
 * Credentials: auth.passwordCommand (and passwordEnv, auth.pass, a password
 * in the URL) is what reaches the smarthost's AUTH, for doctor and for a
 * real flush; and the secret appears nowhere a user or a log collector can
 * see it: stdout/stderr of doctor, config list/get, status, flush, log,
 * and every file under log/ (and the last-probe record).
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { runCli, type RunResult } from '../support/cli.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { enqueueMessage, openSpool } from '../../src/spool/index.js';
import { messageText } from '../support/spool-fixtures.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const CERT = path.join(FIXTURES, 'localhost-cert.pem');
const KEY = path.join(FIXTURES, 'localhost-key.pem');
const USER = 'list-owner';
const SECRET = 'Xq7-s3cr3t-from-the-password-manager';

interface AuthServer extends CaptureServer {
  /** Every AUTH attempt: the user and whether the password was right. */
  auths: { user: string; ok: boolean }[];
}

async function startAuthServer(): Promise<AuthServer> {
  const auths: { user: string; ok: boolean }[] = [];
  const server = await startCaptureServer({
    server: {
      key: await fs.readFile(KEY),
      cert: await fs.readFile(CERT),
      disabledCommands: [],
      authOptional: false,
      onAuth(auth, _session, callback) {
        const ok = auth.username === USER && auth.password === SECRET;
        auths.push({ user: auth.username ?? '', ok });
        if (ok) callback(null, { user: USER });
        else callback(new Error('Invalid username or password'));
      },
    },
  });
  return Object.assign(server, { auths });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

function assertNoSecret(label: string, text: string, secret = SECRET): void {
  assert.ok(!text.includes(secret), `${label} shows the secret:\n${text}`);
}

async function queuePosts(home: string, count: number): Promise<void> {
  const spool = await openSpool(home);
  for (let i = 0; i < count; i++) {
    await enqueueMessage(spool, {
      from: 'owner@example.org',
      recipients: [`m${i}a@example.org`, `m${i}b@example.org`],
      message: messageText(`Post ${i}`),
      subject: `Post ${i}`,
    });
  }
}

describe('credentials', () => {
  let server: AuthServer;
  let home: TempHome;

  before(async () => {
    server = await startAuthServer();
  });
  after(() => server.close());
  beforeEach(async () => {
    home = await makeTempHome();
  });
  afterEach(() => home.cleanup());

  test('passwordCommand is used for AUTH (doctor and flush), and the secret shows up nowhere', async () => {
    const secretFile = path.join(home.home, 'secret.txt');
    await fs.writeFile(secretFile, `${SECRET}\nsecond line ignored\n`, { mode: 0o600 });
    await writeConfig(home.home, {
      smarthost: `smtp://127.0.0.1:${server.port}`,
      tls: { caFile: CERT },
      auth: { user: USER, passwordCommand: `cat '${secretFile}'` },
    });
    await queuePosts(home.home, 3);
    const outputs: [string, RunResult][] = [];
    const run = async (args: string[]) => {
      const result = await runCli(args, { home: home.home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
      outputs.push([args.join(' '), result]);
      return result;
    };

    const authsBefore = server.auths.length;
    const doctor = await run(['doctor', '--json']);
    assert.equal(doctor.code, 0, doctor.stdout);
    assert.deepEqual(server.auths.slice(authsBefore), [{ user: USER, ok: true }], 'doctor authenticated with the command\'s password');
    await run(['doctor']);
    await run(['status']);
    await run(['status', '--json']);

    const flush = await run(['flush', '--verbose']);
    assert.equal(flush.code, 0, flush.stderr);
    assert.equal(server.messages.length, 3);
    assert.ok(server.auths.slice(authsBefore + 1).length >= 1);
    assert.ok(server.auths.slice(authsBefore + 1).every((a) => a.ok && a.user === USER));

    await run(['status']);
    await run(['log']);
    await run(['log', '--json']);
    await run(['config', 'list']);
    await run(['config', 'list', '--json']);
    await run(['config', 'get', 'auth.passwordCommand']);
    await run(['config', 'get', 'auth.pass']);
    for (const [label, result] of outputs) {
      assertNoSecret(`${label} stdout`, result.stdout);
      assertNoSecret(`${label} stderr`, result.stderr);
    }
    const files = [...(await filesUnder(path.join(home.home, 'log'))), path.join(home.home, 'spool', 'last-probe.json')];
    assert.ok(files.some((f) => f.endsWith('deliveries.jsonl')), 'the flush logged its deliveries');
    for (const file of files) {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      assertNoSecret(file, text);
    }

    // The command runs each time: a changed password is the one sent.
    await fs.writeFile(secretFile, 'an-outdated-password\n');
    const stale = await runCli(['doctor', '--json'], { home: home.home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
    assert.equal(stale.code, 1);
    assert.deepEqual(server.auths.at(-1), { user: USER, ok: false });
    assertNoSecret('doctor with a stale password', stale.stdout, 'an-outdated-password');
  });

  test('a failing passwordCommand is reported by key, never by its text or output', async () => {
    await writeConfig(home.home, {
      smarthost: `smtp://127.0.0.1:${server.port}`,
      tls: { caFile: CERT },
      auth: { user: USER, passwordCommand: `echo ${SECRET} >&2; exit 3` },
    });
    await queuePosts(home.home, 1);
    const doctor = await runCli(['doctor'], { home: home.home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
    assert.equal(doctor.code, 1);
    assert.match(doctor.stdout, /AUTH accepted: auth\.passwordCommand failed \(exit 3\)/);
    const flush = await runCli(['flush'], { home: home.home });
    assert.notEqual(flush.code, 0);
    assert.match(flush.stderr, /auth\.passwordCommand failed \(exit 3\)/);
    for (const text of [doctor.stdout, doctor.stderr, flush.stdout, flush.stderr]) assertNoSecret('failing command', text);
  });

  test('passwordEnv, auth.pass and a password in the URL: used, and hidden everywhere', async () => {
    // passwordEnv
    await writeConfig(home.home, {
      smarthost: `smtp://127.0.0.1:${server.port}`,
      tls: { caFile: CERT },
      auth: { user: USER, passwordEnv: 'LIST_SMTP_PASSWORD' },
    });
    await queuePosts(home.home, 1);
    const viaEnv = await runCli(['flush'], { home: home.home, env: { LIST_SMTP_PASSWORD: SECRET } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.deepEqual(server.auths.at(-1), { user: USER, ok: true });

    // auth.pass and the URL: the wrong one is refused, and neither is ever printed.
    const wrong = 'Wr0ng-url-password-77';
    await writeConfig(home.home, {
      smarthost: `smtp://${USER}:${wrong}@127.0.0.1:${server.port}`,
      tls: { caFile: CERT },
    });
    await queuePosts(home.home, 1);
    const texts: string[] = [];
    for (const args of [['flush'], ['status'], ['config', 'list'], ['config', 'get', 'smarthost'], ['doctor']]) {
      const r = await runCli(args, { home: home.home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
      texts.push(r.stdout, r.stderr);
      if (args[0] === 'flush') {
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /refused authentication as list-owner/);
      }
      if (args[1] === 'get') assert.equal(r.stdout.trim(), `smtp://${USER}:***@127.0.0.1:${server.port}`);
    }
    for (const text of texts) assertNoSecret('URL password', text, wrong);

    await writeConfig(home.home, {
      smarthost: `smtp://127.0.0.1:${server.port}`,
      tls: { caFile: CERT },
      auth: { user: USER, pass: SECRET },
    });
    const list = await runCli(['config', 'list'], { home: home.home });
    assert.match(list.stdout, /^auth\.pass = \(set, hidden\)$/m);
    const flush = await runCli(['flush'], { home: home.home });
    assert.equal(flush.code, 0, flush.stderr);
    for (const text of [list.stdout, flush.stdout, flush.stderr]) assertNoSecret('auth.pass', text);
    for (const file of await filesUnder(path.join(home.home, 'log'))) assertNoSecret(file, await fs.readFile(file, 'utf8'));
  });
});
