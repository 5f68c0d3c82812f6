/**
 * `bulkmailer probe` as a black box: each check with its timing, the
 * internet check skipped for a loopback smarthost (so nothing leaves this
 * machine), every smarthost probed in order, exit 0 / 75 / 78; every
 * account probed, one line each (real capture servers, one up and one
 * down: 75 until the down one is back); direct (MX) delivery when routes
 * use it, against a DNS stub and an SMTP sink on 127.0.0.2 (doctor's
 * checks: 0 while the MX greets, 75 once it is down, no 78 without a
 * smarthost; the internet check said skipped for its loopback resolvers).
 * Also buildProbeReport with an internet smarthost, and with direct
 * delivery through resolvers on the internet, through its seams.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { toRuntimeConfig } from '../../src/config/runtime.js';
import { DEFAULT_CONFIG } from '../../src/config/schema.js';
import { buildProbeReport } from '../../src/connectivity/probe-report.js';
import { runCli } from '../support/cli.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { startMxNetwork } from '../support/mx-network.js';

let home: TempHome;
let server: CaptureServer;
let closedPort: number;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer();
  // A port nobody listens on: bind, note it, close.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

after(async () => {
  await server.close();
  await home.cleanup();
});

test('probe --json: interfaces, internet skipped for loopback, each smarthost with timings', async () => {
  await writeConfig(home.home, {
    smarthost: `smtp://127.0.0.1:${closedPort}`,
    fallbackSmarthosts: [`smtp://user:hunter2@127.0.0.1:${server.port}`],
  });
  const r = await runCli(['probe', '--json'], { home: home.home });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /hunter2/);
  const report = JSON.parse(r.stdout);
  assert.equal(typeof report.interfaces.ms, 'number');
  assert.equal(report.interfaces.needed, false);
  assert.deepEqual(report.internet, { checked: false, skipped: 'every smarthost is on loopback or a private network' });
  assert.equal(report.smarthosts.length, 2);
  assert.equal(report.smarthosts[0].reachable, false);
  assert.equal(report.smarthosts[0].error, 'ECONNREFUSED');
  assert.equal(report.smarthosts[1].reachable, true);
  assert.match(report.smarthosts[1].greeting, /^220 /);
  assert.equal(typeof report.smarthosts[1].ms, 'number');
  assert.equal(report.reachable, `smtp://user@127.0.0.1:${server.port}`);
  assert.equal(report.mx, null, 'no route sends to mx: no direct delivery checks');
});

test('probe (text): one line per check; nothing reachable is exit 75', async () => {
  await writeConfig(home.home, { smarthost: `smtp://127.0.0.1:${closedPort}` });
  const r = await runCli(['probe'], { home: home.home });
  assert.equal(r.code, 75);
  assert.match(r.stdout, /^interfaces {2}/m);
  assert.match(r.stdout, /^internet {4}skipped/m);
  assert.match(r.stdout, new RegExp(`^smarthost {3}unreachable {2}\\d+ms {2}smtp://127\\.0\\.0\\.1:${closedPort} {2}ECONNREFUSED`, 'm'));
});

test('probe with no smarthost configured: local checks, then exit 78', async () => {
  await writeConfig(home.home, {});
  const r = await runCli(['probe'], { home: home.home });
  assert.equal(r.code, 78);
  assert.match(r.stdout, /internet {4}skipped {2}\(no smarthost configured\)/);
  assert.match(r.stderr, /no smarthost configured/);
});

test('buildProbeReport with an internet smarthost asks is-online (the seam) and probes', async () => {
  const config = toRuntimeConfig(home.home, { ...structuredClone(DEFAULT_CONFIG), smarthost: 'smtps://me:secret@smtp.example.net' });
  let asked = 0;
  const report = await buildProbeReport(config, {
    isOnline: async () => (asked++, false),
    probe: async (s) => ({ smarthost: s.display, reachable: false, ms: 0, greeting: null, error: 'ENOTFOUND' }),
    interfaces: () => ({}),
  });
  assert.equal(asked, 1);
  assert.deepEqual(
    { checked: report.internet.checked, online: report.internet.checked && report.internet.online },
    { checked: true, online: false },
  );
  assert.equal(report.interfaces.needed, true);
  assert.deepEqual(report.interfaces.external, []);
  assert.equal(report.smarthosts[0]!.smarthost, 'smtps://me@smtp.example.net:465');
  assert.equal(report.reachable, null);
});

test('buildProbeReport for direct delivery through resolvers on the internet asks is-online, as the flush does, with no smarthost', async () => {
  const raw = { ...structuredClone(DEFAULT_CONFIG), routes: '*=mx', mx: { ...structuredClone(DEFAULT_CONFIG).mx, resolvers: '9.9.9.9' } };
  let asked = 0;
  const report = await buildProbeReport(toRuntimeConfig(home.home, raw), { isOnline: async () => (asked++, true), interfaces: () => ({}) });
  assert.equal(asked, 1);
  assert.deepEqual({ checked: report.internet.checked, online: report.internet.checked && report.internet.online }, { checked: true, online: true });
  assert.deepEqual(report.smarthosts, []);
});

test('probe checks every account: one line each, exit 75 while one reaches no smarthost, 0 once it does', async (t) => {
  const down = await startCaptureServer();
  t.after(() => down.close());
  await down.stop();
  await writeConfig(home.home, {
    smarthost: `smtp://127.0.0.1:${server.port}`,
    accounts: { club: { smarthost: `smtp://127.0.0.1:${down.port}`, senders: ['@club.example'] } },
  });
  const r = await runCli(['probe'], { home: home.home });
  assert.equal(r.code, 75, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^account {5}default  reachable  smtp://127\\.0\\.0\\.1:${server.port}$`, 'm'));
  assert.match(r.stdout, /^account {5}club {5}unreachable  none of 1 smarthost answered$/m);
  assert.match(r.stdout, new RegExp(`^smarthost {3}unreachable {2}\\d+ms {2}smtp://127\\.0\\.0\\.1:${down.port} {2}ECONNREFUSED`, 'm'));
  // Each account's smarthosts follow its own line.
  const lines = r.stdout.split('\n');
  const club = lines.findIndex((l) => l.startsWith('account     club'));
  assert.match(lines[club + 1] ?? '', new RegExp(`smtp://127\\.0\\.0\\.1:${down.port}`));

  const json = await runCli(['probe', '--json'], { home: home.home });
  assert.equal(json.code, 75);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(
    report.accounts.map((a: { account: string; reachable: string | null; smarthosts: unknown[] }) => [a.account, a.reachable, a.smarthosts.length]),
    [
      ['default', `smtp://127.0.0.1:${server.port}`],
      ['club', null],
    ].map(([name, reachable]) => [name, reachable, 1]),
  );

  await down.start();
  const up = await runCli(['probe'], { home: home.home });
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, new RegExp(`^account {5}club {5}reachable  smtp://127\\.0\\.0\\.1:${down.port}$`, 'm'));
});

test('probe: an account without a smarthost (the default, when others have one) is shown, not failed', async () => {
  await writeConfig(home.home, { accounts: { club: { smarthost: `smtp://127.0.0.1:${server.port}`, senders: ['@club.example'] } } });
  const r = await runCli(['probe'], { home: home.home });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^account {5}default  no smarthost$/m);
  assert.match(r.stdout, new RegExp(`^account {5}club {5}reachable  smtp://127\\.0\\.0\\.1:${server.port}$`, 'm'));
});

test('probe checks direct (MX) delivery when routes use it: doctor\'s checks, exit 0 while the MX greets, 75 once it does not', async (t) => {
  const network = await startMxNetwork(
    {
      'club.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }] },
      'mx1.club.example': { a: ['127.0.0.2'] },
      'bulk.test': { a: ['127.0.0.1'] },
    },
    ['127.0.0.2'],
  );
  t.after(() => network.close());
  // No smarthost at all: with every domain routed to mx there is still something to probe (no 78).
  await writeConfig(home.home, { ...network.config, routes: 'club.example=mx,*=mx' });
  const r = await runCli(['probe'], { home: home.home });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // What the flush would ask: its resolvers are on loopback, so not the internet; said as such.
  assert.match(r.stdout, /^internet {4}skipped {2}\(no smarthost configured; direct delivery's DNS resolvers are on loopback or a private network\)$/m);
  assert.match(r.stdout, /^mx {10}pass {2}DNS resolvers answer: /m);
  assert.match(r.stdout, new RegExp(`^mx {10}pass {2}outbound port ${network.port} reachable: mx1\\.club\\.example\\[127\\.0\\.0\\.2\\]:${network.port} \\(MX of club\\.example\\) greets: 220`, 'm'));
  assert.match(r.stdout, /^mx {10}pass {2}EHLO name bulk\.test: bulk\.test resolves to 127\.0\.0\.1$/m);

  await network.sink('127.0.0.2').stop();
  const down = await runCli(['probe', '--json'], { home: home.home });
  assert.equal(down.code, 75, down.stdout + down.stderr);
  const report = JSON.parse(down.stdout) as { mx: { id: string; status: string; detail: string; fix: string | null }[] };
  assert.deepEqual(report.mx.map((c) => [c.id, c.status]), [['mx.resolvers', 'pass'], ['mx.port25', 'fail'], ['mx.ehlo', 'pass']]);
  assert.match(report.mx[1]!.detail, /ECONNREFUSED/);
  const text = await runCli(['probe'], { home: home.home });
  assert.equal(text.code, 75);
  assert.match(text.stdout, /^mx {10}fail {2}outbound port \d+ reachable: .*ECONNREFUSED\n {12}\S/m, 'the fix on the next line');

  // A warning alone (an EHLO name MX hosts may mark down) does not fail the probe.
  await network.sink('127.0.0.2').start();
  await writeConfig(home.home, { ...network.config, routes: 'club.example=mx,*=mx', heloName: 'localhost' });
  const warned = await runCli(['probe'], { home: home.home });
  assert.equal(warned.code, 0, warned.stdout + warned.stderr);
  assert.match(warned.stdout, /^mx {10}warn {2}EHLO name localhost: /m);
});
