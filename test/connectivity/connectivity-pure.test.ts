/**
 * The pure parts of connectivity: re-probe backoff, the schedule interval
 * that caps it, interface fingerprints, which smarthosts need the internet
 * check, and checkInternet's promise never to throw (through its seam: no
 * request leaves this machine).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSmarthostUrl } from '../../src/config/smarthost.js';
import { diffFingerprints, externalAddresses, interfaceFingerprint } from '../../src/connectivity/interfaces.js';
import { checkInternet, isPrivateNetworkHost, needsInternetCheck, needsNetwork } from '../../src/connectivity/internet.js';
import { REPROBE_MAX_MS, reprobeDelay, reprobePolicy } from '../../src/connectivity/reprobe-backoff.js';
import { checkSchedule, scheduleIntervalMs } from '../../src/agent/cron-schedule.js';
import { BulkmailerError } from '../../src/errors.js';

test('re-probe delays double from 1 s up to the cap', () => {
  const policy = reprobePolicy(5 * 60_000);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5000].map((n) => reprobeDelay(n, policy)),
    [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000],
  );
  assert.equal(reprobePolicy(7 * 24 * 3_600_000).capMs, REPROBE_MAX_MS, 'a weekly schedule still re-probes every 15 min');
  assert.equal(reprobePolicy(100).capMs, 1_000, 'never below the first step');
});

test('schedule interval from the cron expression; bad expressions are config errors', () => {
  assert.equal(scheduleIntervalMs('*/5 * * * *'), 5 * 60_000);
  assert.equal(scheduleIntervalMs('*/2 * * * * *'), 2_000);
  assert.equal(scheduleIntervalMs('0 9 * * *'), 24 * 3_600_000);
  for (const bad of ['61 * * * *', 'every minute', '* * *']) {
    assert.throws(() => checkSchedule(bad), (err: unknown) => err instanceof BulkmailerError && err.exitCode === 78);
  }
});

test('interface fingerprints ignore loopback and order', () => {
  const info = (address: string, internal = false) => ({
    address,
    netmask: '255.0.0.0',
    family: 'IPv4' as const,
    mac: '00:00:00:00:00:00',
    internal,
    cidr: null,
  });
  const a = { lo: [info('127.0.0.1', true)], eth0: [info('10.0.0.2')], wlan0: [info('192.168.1.4')] };
  const b = { wlan0: [info('192.168.1.4')], eth0: [info('10.0.0.2')], lo: [info('127.0.0.1', true)] };
  assert.deepEqual(interfaceFingerprint(a), interfaceFingerprint(b));
  assert.equal(externalAddresses({ lo: [info('127.0.0.1', true)] }).length, 0);
  assert.deepEqual(diffFingerprints(interfaceFingerprint(a), interfaceFingerprint({ eth0: [info('10.0.0.3')] })), {
    added: ['eth0 IPv4 10.0.0.3'],
    removed: ['eth0 IPv4 10.0.0.2', 'wlan0 IPv4 192.168.1.4'],
  });
});

test('which smarthosts need the internet check', () => {
  for (const host of ['127.0.0.1', 'localhost', '10.1.2.3', '172.20.0.1', '192.168.0.10', '100.100.1.1', '169.254.3.3',
    '::1', 'fd12:3456::1', 'fe80::1', 'mailhub', 'relay.lan', 'box.local', 'mx.home.arpa']) {
    assert.ok(isPrivateNetworkHost(host), host);
  }
  for (const host of ['8.8.8.8', '172.32.0.1', 'smtp.example.net', '2001:db8::1', '11.0.0.1']) {
    assert.ok(!isPrivateNetworkHost(host), host);
  }
  const local = parseSmarthostUrl('smtp://127.0.0.1:25');
  const lan = parseSmarthostUrl('smtp://192.168.1.1:25');
  const net = parseSmarthostUrl('smtps://user:secret@smtp.example.net');
  assert.equal(needsInternetCheck([local, lan]), false);
  assert.equal(needsInternetCheck([local, net]), true);
  assert.equal(needsNetwork([local]), false);
  assert.equal(needsNetwork([lan]), true);
});

test('checkInternet answers a value, never throws, and is bounded', async () => {
  const yes = await checkInternet({ timeoutMs: 100, isOnline: async () => true });
  assert.equal(yes.online, true);
  assert.equal(yes.error, null);
  const thrown = await checkInternet({ timeoutMs: 100, isOnline: async () => { throw new Error('EAI_AGAIN'); } });
  assert.deepEqual([thrown.online, thrown.error], [false, 'EAI_AGAIN']);
  const started = performance.now();
  const hung = await checkInternet({ timeoutMs: 50, isOnline: () => new Promise(() => {}) });
  assert.equal(hung.online, false);
  assert.ok(performance.now() - started < 5_000);
  let seen: { timeout: number } | null = null;
  await checkInternet({ timeoutMs: 1234, isOnline: async (o) => ((seen = o), false) });
  assert.equal(seen!.timeout, 1234, 'is-online gets our timeout');
});
