/**
 * MTA-STS (RFC 8461) with mx.tls mta-sts: the policy's grammar, then end
 * to end with a real DNS server (TXT _mta-sts.DOMAIN), a real HTTPS policy
 * host on 127.0.0.5 with a certificate for mta-sts.secure.example, and MX
 * sinks on 127.0.0.2 (named by the policy, STARTTLS) and 127.0.0.3 (a
 * better-preference MX the policy does not name: what an attacker who
 * forged the MX answer would add).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { once } from 'node:events';
import { mxMatchesPolicy, parseStsPolicy, parseStsRecord } from '../../src/mx/mta-sts.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';
import { startMxNetwork } from '../support/mx-network.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { ROOT } from '../support/cli.js';
import type { Zone } from '../support/dns-server.js';

const KEY = fs.readFileSync(path.join(ROOT, 'test/fixtures/secure-example-key.pem'));
const CERT_FILE = path.join(ROOT, 'test/fixtures/secure-example-cert.pem');
const CERT = fs.readFileSync(CERT_FILE);

const ENFORCE = 'version: STSv1\r\nmode: enforce\r\nmx: mx.secure.example\r\nmax_age: 86400\r\n';

test('the grammar: one STSv1 record with an id; policy fields; mx patterns match one left-most label', () => {
  assert.equal(parseStsRecord(['v=STSv1; id=20261130T1']), '20261130T1');
  assert.equal(parseStsRecord(['v=spf1 -all', 'v=STSv1;id=abc;']), 'abc');
  assert.equal(parseStsRecord(['v=STSv1; id=a', 'v=STSv1; id=b']), null, 'two records: none (section 3.1)');
  assert.equal(parseStsRecord(['v=STSv1; id=not-alnum!']), null);
  assert.equal(parseStsRecord([]), null);

  const policy = parseStsPolicy('version: STSv1\nmode: testing\nmx: *.mail.example\nmx: MX.Example.\nmax_age: 999999999\n', 'x');
  assert.deepEqual(policy, { id: 'x', mode: 'testing', mx: ['*.mail.example', 'mx.example'], maxAgeSec: 31_557_600 });
  assert.throws(() => parseStsPolicy('version: STSv2\nmode: enforce\nmx: a\nmax_age: 1', 'x'), /version is "STSv2"/);
  assert.throws(() => parseStsPolicy('version: STSv1\nmode: strict\nmx: a\nmax_age: 1', 'x'), /mode "strict"/);
  assert.throws(() => parseStsPolicy('version: STSv1\nmode: enforce\nmax_age: 1', 'x'), /no mx patterns/);
  assert.throws(() => parseStsPolicy('version: STSv1\nmode: enforce\nmx: a', 'x'), /max_age/);

  assert.ok(mxMatchesPolicy('mx1.mail.example', ['*.mail.example']));
  assert.ok(!mxMatchesPolicy('a.mx1.mail.example', ['*.mail.example']), 'one label only');
  assert.ok(!mxMatchesPolicy('mail.example', ['*.mail.example']));
  assert.ok(mxMatchesPolicy('MX.secure.example.', ['mx.secure.example']));
});

interface PolicyHost {
  port: number;
  requests: number;
  body: string;
  close(): Promise<void>;
}

async function startPolicyHost(body: string): Promise<PolicyHost> {
  const host: PolicyHost = { port: 0, requests: 0, body, close: async () => {} };
  const server = https.createServer({ key: KEY, cert: CERT }, (req, res) => {
    host.requests++;
    if (req.url !== '/.well-known/mta-sts.txt') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(host.body);
  });
  server.listen(0, '127.0.0.5');
  await once(server, 'listening');
  host.port = (server.address() as { port: number }).port;
  host.close = () => new Promise((resolve) => server.close(() => resolve()));
  return host;
}

const ZONE: Zone = {
  'secure.example': {
    mx: [
      { preference: 5, exchange: 'rogue.example.net' },
      { preference: 10, exchange: 'mx.secure.example' },
    ],
  },
  '_mta-sts.secure.example': { txt: ['v=STSv1; id=20261130'] },
  'mta-sts.secure.example': { a: ['127.0.0.5'] },
  'mx.secure.example': { a: ['127.0.0.2'] },
  'rogue.example.net': { a: ['127.0.0.3'] },
};

async function setup(t: { after: (fn: () => Promise<void>) => void }, options: { starttls: boolean; tls: string }) {
  const policyHost = await startPolicyHost(ENFORCE);
  t.after(() => policyHost.close());
  const tls = { disabledCommands: [] as string[], key: KEY, cert: CERT };
  const net = await startMxNetwork(structuredClone(ZONE), ['127.0.0.2', '127.0.0.3'], (address) =>
    address === '127.0.0.2' && options.starttls ? { server: tls } : {},
  );
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  await writeConfig(home, {
    ...net.config,
    mx: { ...(net.config.mx as object), tls: options.tls, mtaStsPort: policyHost.port },
    tls: { caFile: CERT_FILE },
  });
  return { policyHost, net, home, spool };
}

function message(subject: string): string {
  return `From: list@club.example\r\nTo: members@secure.example\r\nSubject: ${subject}\r\n\r\nHello.\r\n`;
}

test('enforce: only the MX the policy names takes the mail, over verified TLS; the policy is cached in the spool and used when its host is gone', async (t) => {
  const { policyHost, net, home, spool } = await setup(t, { starttls: true, tls: 'mta-sts' });
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['ann@secure.example'], message: message('one') });
  const first = await flushQueue({ home });
  assert.equal(first.outcome, 'done');
  assert.equal(net.sink('127.0.0.3').messages.length, 0, 'the MX the policy does not name is never used');
  assert.equal(net.sink('127.0.0.2').messages.length, 1);
  assert.equal(net.sink('127.0.0.2').messages[0]!.secure, true);
  assert.equal(policyHost.requests, 1);
  const cached = JSON.parse(fs.readFileSync(path.join(spool.root, 'records', 'mta-sts.json'), 'utf8'));
  assert.equal(cached.domains['secure.example'].policy.mode, 'enforce');

  // The policy host is gone (or blocked by an attacker): the cached policy still holds.
  await policyHost.close();
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['bob@secure.example'], message: message('two') });
  const second = await flushQueue({ home });
  assert.equal(second.outcome, 'done');
  assert.equal(net.sink('127.0.0.3').messages.length, 0);
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['ann@secure.example'], ['bob@secure.example']]);
});

test('enforce with an MX that offers no STARTTLS: nothing is sent in clear; the destination waits, no attempt counted', async (t) => {
  const { net, home, spool } = await setup(t, { starttls: false, tls: 'mta-sts' });
  const { id } = await enqueueMessage(spool, { from: 'list@club.example', recipients: ['ann@secure.example'], message: message('clear') });
  const events = new FlushEvents();
  const warnings: string[] = [];
  events.on('warning', (w) => warnings.push(w));
  const result = await flushQueue({ home, events });
  assert.equal(result.outcome, 'pending');
  assert.equal(net.sink('127.0.0.2').messages.length, 0);
  assert.equal(net.sink('127.0.0.3').messages.length, 0);
  const recipient = (await readEntryState(spool, id))!.recipients[0]!;
  assert.equal(recipient.status, 'pending');
  assert.equal(recipient.attempts, 0);
  assert.ok(warnings.some((w) => /mx\.secure\.example \(MTA-STS\) is down/.test(w)), warnings.join('\n'));
});

test('opportunistic (the default): no policy is asked for, the best MX takes the mail; a policy naming none of the MX hosts defers', async (t) => {
  const { policyHost, net, home, spool } = await setup(t, { starttls: true, tls: 'opportunistic' });
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['ann@secure.example'], message: message('plain') });
  assert.equal((await flushQueue({ home })).outcome, 'done');
  assert.equal(policyHost.requests, 0);
  assert.equal(net.dns.count('_mta-sts.secure.example', 'TXT'), 0);
  assert.equal(net.sink('127.0.0.3').messages.length, 1);

  policyHost.body = 'version: STSv1\nmode: enforce\nmx: *.elsewhere.example\nmax_age: 600\n';
  const config = JSON.parse(fs.readFileSync(path.join(home, 'config.json'), 'utf8'));
  await writeConfig(home, { ...config, mx: { ...config.mx, tls: 'mta-sts' } });
  const { id } = await enqueueMessage(spool, { from: 'list@club.example', recipients: ['bob@secure.example'], message: message('none') });
  assert.equal((await flushQueue({ home })).outcome, 'pending');
  const bob = (await readEntryState(spool, id))!.recipients[0]!;
  assert.equal(bob.status, 'deferred', 'a temporary failure (RFC 8461 section 5): retried later, never sent elsewhere');
  assert.match(bob.lastReply ?? '', /451 4\.7\.5 the MTA-STS policy of secure\.example .* names none of its MX hosts/);
  assert.equal(net.sink('127.0.0.3').messages.length, 1, 'nothing more went to the MX the policy does not name');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [id]);
});
