/**
 * doctor in MX mode: resolvers, outbound port 25 (mx.port here) with a
 * plain "blocked" when nothing greets, the EHLO name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMxNetwork } from '../support/mx-network.js';
import { startDnsServer } from '../support/dns-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runDoctor } from '../../src/doctor/run-doctor.js';

const ZONE = {
  'club.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }] },
  'mx1.club.example': { a: ['127.0.0.2'] },
  'bulk.test': { a: ['127.0.0.1'] },
};

async function home(t: { after: (fn: () => Promise<void>) => void }, config: Record<string, unknown>) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, config);
  return home;
}

const byId = (report: Awaited<ReturnType<typeof runDoctor>>, id: string) => report.checks.find((c) => c.id === id);

test('doctor, direct delivery reachable: resolvers, port, EHLO name pass; no smarthost needed for *=mx', async (t) => {
  const network = await startMxNetwork(structuredClone(ZONE), ['127.0.0.2']);
  t.after(() => network.close());
  const h = await home(t, { ...network.config, routes: 'club.example=mx,*=mx' });
  const report = await runDoctor(h, { skipAutostart: true });
  assert.equal(byId(report, 'config.smarthost')?.status, 'pass');
  assert.equal(byId(report, 'mx.resolvers')?.status, 'pass');
  assert.equal(byId(report, 'mx.port25')?.status, 'pass', byId(report, 'mx.port25')?.detail);
  assert.match(byId(report, 'mx.port25')!.detail, /mx1\.club\.example\[127\.0\.0\.2\].*greets: 220/);
  assert.equal(byId(report, 'mx.ehlo')?.status, 'pass');
});

test('doctor: an MX that takes the connection but never greets reads as a blocked port, with the smarthost as the fix', async (t) => {
  const dns = await startDnsServer(structuredClone(ZONE));
  t.after(() => dns.close());
  const sockets = new Set<net.Socket>();
  const blackhole = net.createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.2', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    blackhole.close(() => resolve());
  }));
  const port = (blackhole.address() as net.AddressInfo).port;
  const h = await home(t, {
    routes: 'club.example=mx,*=mx',
    heloName: 'localhost',
    mx: { resolvers: dns.address, port, dnsTimeout: '1s' },
    timeouts: { probe: '1s' },
  });
  const report = await runDoctor(h, { skipAutostart: true });
  const port25 = byId(report, 'mx.port25')!;
  assert.equal(port25.status, 'fail');
  assert.match(port25.detail, /looks blocked/);
  assert.match(port25.fix!, /smarthost/);
  assert.equal(byId(report, 'mx.ehlo')?.status, 'warn');
  assert.equal(report.ok, false);
});

test('doctor: resolvers that do not answer fail mx.resolvers; smarthost-only routes run no MX checks', async (t) => {
  const dns = await startDnsServer(structuredClone(ZONE));
  t.after(() => dns.close());
  dns.setSilent(true);
  const h = await home(t, { routes: '*=mx', mx: { resolvers: dns.address, dnsTimeout: '1s' } });
  const report = await runDoctor(h, { skipAutostart: true });
  assert.equal(byId(report, 'mx.resolvers')?.status, 'fail');
  assert.equal(byId(report, 'mx.port25')?.status, 'skip');
  const plain = await home(t, { smarthost: 'smtp://127.0.0.1:1' });
  const smarthostOnly = await runDoctor(plain, { skipAutostart: true });
  assert.equal(byId(smarthostOnly, 'mx.resolvers'), undefined);
});
