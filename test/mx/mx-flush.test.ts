/**
 * Direct delivery end to end: real spools, a real DNS server on 127.0.0.1,
 * real SMTP sinks on 127.0.0.2, 127.0.0.3, ... all on one port (mx.port).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { startMxNetwork } from '../support/mx-network.js';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { ROOT, runCli, spawnCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, openSpool, readEntryState } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';
import type { Zone } from '../support/dns-server.js';

function message(subject: string): string {
  return `From: list@club.example\r\nTo: members@club.example\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@club.example>\r\n\r\nHello.\r\n`;
}

const ZONE: Zone = {
  'club.example': { mx: [{ preference: 20, exchange: 'mx2.club.example' }, { preference: 10, exchange: 'mx1.club.example' }] },
  'mx1.club.example': { a: ['127.0.0.2'] },
  'mx2.club.example': { a: ['127.0.0.3'] },
  'friends.example': { mx: [{ preference: 10, exchange: 'mx1.club.example' }, { preference: 20, exchange: 'mx2.club.example' }] },
  'plain.example': { a: ['127.0.0.4'] },
  'nomail.example': { mx: [{ preference: 0, exchange: '.' }] },
  'dead.example': { mx: [{ preference: 10, exchange: 'mx.dead.example' }] },
  'mx.dead.example': { a: ['127.0.0.9'] },
};

async function setup(t: { after: (fn: () => Promise<void>) => void }, zone: Zone = ZONE, sinks = ['127.0.0.2', '127.0.0.3', '127.0.0.4']) {
  const net = await startMxNetwork(structuredClone(zone), sinks);
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const config = (extra: Record<string, unknown> = {}) => writeConfig(home, { ...net.config, ...extra });
  await config();
  return { net, home, spool, config };
}

test('MX by preference: the best MX takes the mail; when it is down, the next one does', async (t) => {
  const { net, home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['ann@club.example', 'bob@club.example'], message: message('one') });
  const first = await runCli(['flush'], { home });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['ann@club.example', 'bob@club.example']]);
  assert.equal(net.sink('127.0.0.3').messages.length, 0);
  assert.equal(net.sink('127.0.0.2').messages[0]!.helo, 'bulk.test');

  await net.sink('127.0.0.2').stop();
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['cy@club.example'], message: message('two') });
  const second = await runCli(['flush'], { home });
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(net.sink('127.0.0.3').messages.map((m) => m.to), [['cy@club.example']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('implicit MX: a domain with only an A record gets its mail there', async (t) => {
  const { net, home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['dee@plain.example'], message: message('implicit') });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(net.sink('127.0.0.4').messages.map((m) => m.to), [['dee@plain.example']]);
});

test('null MX and NXDOMAIN bounce at once, with no connection; the DSN goes to the sender by MX', async (t) => {
  const { net, home, spool } = await setup(t);
  const { id } = await enqueueMessage(spool, {
    from: 'list@club.example',
    recipients: ['x@nomail.example', 'y@nowhere.example', 'ok@plain.example'],
    message: message('bounces'),
  });
  const events = new FlushEvents();
  const result = await flushQueue({ home, events });
  assert.equal(result.outcome, 'done');
  assert.equal(result.failed, 2);
  assert.equal(result.sent, 1, 'ok@plain.example');
  assert.equal(result.bounces, 1);
  assert.equal(result.bouncesSent, 1, 'the DSN, delivered by MX in the next pass');
  const dsn = net.sink('127.0.0.2').messages.find((m) => m.from === '');
  assert.ok(dsn, 'the bounce reached the sender domain\'s MX');
  assert.deepEqual(dsn.to, ['list@club.example']);
  const text = dsn.raw.toString();
  assert.match(text, /5\.1\.10/);
  assert.match(text, /null MX/);
  assert.match(text, /5\.1\.2/);
  assert.equal(await readEntryState(spool, id).catch(() => null), null);
  assert.ok(!net.dns.queries.some((q) => q.startsWith('mx.nomail')), 'no host looked up for a null MX');
});

test('a crash while DNS-decided outcomes are recorded leaves no possible duplicate: nothing was sent', async (t) => {
  const { home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['x@nowhere.example'], message: message('nxdomain crash') });
  const crashed = await runCli(['flush'], { home, env: { BULKMAILER_CRASH_AT: 'flush-after-data' } });
  assert.equal(crashed.signal, 'SIGKILL');
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.doesNotMatch(resumed.stdout + resumed.stderr, /possible duplicate/);
  const log = fs.readFileSync(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
  assert.match(log, /x@nowhere\.example/);
  assert.doesNotMatch(log, /possibleDuplicate/);
});

test('MX answers are cached across flushes for their TTL', async (t) => {
  const { net, home, spool } = await setup(t);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['a@club.example'], message: message('c1') });
  assert.equal((await runCli(['flush'], { home })).code, 0);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['b@club.example'], message: message('c2') });
  assert.equal((await runCli(['flush'], { home })).code, 0);
  assert.equal(net.sink('127.0.0.2').messages.length, 2);
  assert.equal(net.dns.count('club.example', 'MX'), 1, 'the second flush used the cached answer');
});

test('a bin is drained over few reused connections: domains that share MX hosts share connections', async (t) => {
  const { net, home, spool, config } = await setup(t);
  await config({ concurrency: 2 });
  for (let i = 0; i < 30; i++) {
    await enqueueMessage(spool, {
      from: 'list@club.example',
      recipients: [`m${i}@club.example`, `f${i}@friends.example`],
      message: message(`bin ${i}`),
    });
  }
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'done');
  const sink = net.sink('127.0.0.2');
  assert.equal(sink.messages.length, 30, 'one transaction per message: both domains are one destination');
  assert.ok(sink.messages.every((m) => m.to.length === 2));
  assert.ok(sink.connections <= 2, `${sink.connections} connections for 30 transactions`);
});

test('a dead destination backs off alone: the others deliver, its recipients wait with no attempt counted', async (t) => {
  const { net, home, spool } = await setup(t);
  const { id } = await enqueueMessage(spool, {
    from: 'list@club.example',
    recipients: ['a@dead.example', 'b@club.example'],
    message: message('dead'),
  });
  const first = await runCli(['flush'], { home });
  assert.equal(first.code, 75, first.stdout + first.stderr);
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['b@club.example']]);
  const state = (await readEntryState(spool, id))!;
  const dead = state.recipients.find((r) => r.address === 'a@dead.example')!;
  assert.equal(dead.status, 'pending');
  assert.equal(dead.attempts, 0, 'a destination down burns no attempt');

  const status = await runCli(['status'], { home });
  assert.match(status.stdout, /mx\.dead\.example.*down until/);

  // Within its backoff the next flush does not try it, and says why.
  const events = new FlushEvents();
  const warnings: string[] = [];
  events.on('warning', (w) => warnings.push(w));
  const again = await flushQueue({ home, events });
  assert.equal(again.outcome, 'pending');
  assert.ok(warnings.some((w) => /mx\.dead\.example is down until/.test(w)), warnings.join('\n'));
  assert.equal((await readEntryState(spool, id))!.recipients.find((r) => r.address === 'a@dead.example')!.attempts, 0);
});

test('an MX that refuses our sender holds its destination, not its recipients: no failure, no bounce, the others deliver', async (t) => {
  const net = await startMxNetwork(structuredClone(ZONE), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], (address) =>
    address === '127.0.0.4' ? { mailFromReply: () => ({ code: 550, message: '5.7.1 Sender address rejected: not permitted' }) } : {},
  );
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  await writeConfig(home, net.config);
  const { id } = await enqueueMessage(spool, {
    from: 'list@club.example',
    recipients: ['a@plain.example', 'b@club.example'],
    message: message('refused sender'),
  });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 75, result.stdout + result.stderr);
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['b@club.example']]);
  assert.equal(net.sink('127.0.0.4').messages.length, 0);
  const refused = (await readEntryState(spool, id))!.recipients.find((r) => r.address === 'a@plain.example')!;
  assert.equal(refused.status, 'pending', 'a refusal of the sender is no verdict on the recipient');
  assert.equal(refused.attempts, 0);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [id], 'no bounce was queued');
  const status = await runCli(['status'], { home });
  assert.match(status.stdout, /plain\.example.*down until.*Sender address rejected/s);
});

test('no starvation: a 5,000-recipient destination does not hold ten small ones behind it', async (t) => {
  const zone: Zone = { ...ZONE };
  for (let i = 0; i < 10; i++) zone[`small${i}.example`] = { a: ['127.0.0.4'] };
  const { home, spool, config } = await setup(t, zone);
  await config({ concurrency: 2, maxRecipientsPerTransaction: 100 });
  for (let i = 0; i < 500; i++) {
    const recipients = Array.from({ length: 10 }, (_, k) => `m${i}-${k}@club.example`);
    await enqueueMessage(spool, { from: 'list@club.example', recipients, message: message(`big ${i}`) });
  }
  for (let i = 0; i < 10; i++) {
    await enqueueMessage(spool, { from: 'list@club.example', recipients: [`s@small${i}.example`], message: message(`small ${i}`) });
  }
  const events = new FlushEvents();
  const order: string[] = [];
  events.on('transaction', (e) => order.push(e.outcomes[0]!.address.split('@')[1]!));
  const result = await flushQueue({ home, events });
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, 5010);
  const lastSmall = Math.max(...order.map((d, i) => (d.startsWith('small') ? i : -1)));
  const bigDone = order.slice(0, lastSmall + 1).filter((d) => d === 'club.example').length;
  assert.ok(bigDone < 100, `the small domains finished after ${bigDone} of the big one's 500 transactions`);
});

test('mixed routes: one message, its recipients delivered per route, per-recipient state as usual', async (t) => {
  const { net, home, spool, config } = await setup(t);
  const smarthost = await startCaptureServer();
  t.after(() => smarthost.close());
  await config({ routes: 'club.example=mx, *=smarthost', smarthost: smarthost.url });
  await enqueueMessage(spool, {
    from: 'list@club.example',
    recipients: ['a@club.example', 'b@elsewhere.example', 'c@club.example'],
    message: message('mixed'),
  });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(net.sink('127.0.0.2').messages.map((m) => m.to), [['a@club.example', 'c@club.example']]);
  assert.deepEqual(smarthost.messages.map((m) => m.to), [['b@elsewhere.example']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('mixed routes over many planning windows: every recipient once, by its route, in one pass', async (t) => {
  const { net, home, spool, config } = await setup(t);
  const smarthost = await startCaptureServer();
  t.after(() => smarthost.close());
  await config({ routes: 'club.example=mx, *=smarthost', smarthost: smarthost.url });
  const direct: string[] = [];
  const relayed: string[] = [];
  for (let i = 0; i < 7; i++) {
    // Both routes in one entry, then a direct-only one every other entry.
    direct.push(`d${i}@club.example`);
    relayed.push(`r${i}@elsewhere.example`);
    await enqueueMessage(spool, { from: 'list@club.example', recipients: [`d${i}@club.example`, `r${i}@elsewhere.example`], message: message(`mixed ${i}`) });
    if (i % 2 === 0) {
      direct.push(`only${i}@club.example`);
      await enqueueMessage(spool, { from: 'list@club.example', recipients: [`only${i}@club.example`], message: message(`direct ${i}`) });
    }
  }
  const events = new FlushEvents();
  const passes: number[] = [];
  events.on('start', (e) => passes.push(e.pass));
  const result = await flushQueue({ home, events, planWindow: 2 });
  assert.equal(result.outcome, 'done');
  assert.equal(result.sent, direct.length + relayed.length);
  assert.equal(result.due, direct.length + relayed.length);
  assert.equal(result.messages, 11);
  assert.deepEqual(passes, [0]);
  const once = (got: Map<string, number>, want: string[]) => {
    assert.deepEqual([...got.keys()].sort(), [...want].sort());
    for (const [address, n] of got) assert.equal(n, 1, address);
  };
  once(net.sink('127.0.0.2').deliveriesByRecipient(), direct);
  once(smarthost.deliveriesByRecipient(), relayed);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('offline in MX mode: resolvers that do not answer make a flush that counts nothing', async (t) => {
  const { net, home, spool } = await setup(t);
  const { id } = await enqueueMessage(spool, { from: 'list@club.example', recipients: ['a@club.example'], message: message('off') });
  net.dns.setSilent(true);
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'offline');
  assert.equal(result.exitCode, 75);
  const state = (await readEntryState(spool, id))!;
  assert.equal(state.recipients[0]!.attempts, 0);
  assert.equal(state.recipients[0]!.status, 'pending');
  net.dns.setSilent(false);
  assert.equal((await flushQueue({ home })).outcome, 'done');
});

test('kill -9 mid-drain in MX mode: the next flush completes it, duplicates only from transactions in flight', async (t) => {
  const net = await startMxNetwork(structuredClone(ZONE), ['127.0.0.2', '127.0.0.3', '127.0.0.4'], () => ({ dataDelayMs: 5 }));
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const concurrency = 4;
  await writeConfig(home, { ...net.config, concurrency });
  const recipients = ['a@club.example', 'b@plain.example'];
  for (let i = 0; i < 150; i++) await enqueueMessage(spool, { from: 'list@club.example', recipients, message: message(`drain ${i}`) });
  const child = spawnCli(['flush', '--quiet'], { home });
  await net.sink('127.0.0.2').waitForMessages(40);
  child.kill('SIGKILL');
  const [, signal] = await once(child, 'exit');
  assert.equal(signal, 'SIGKILL');
  const resumed = await runCli(['flush'], { home });
  assert.equal(resumed.code, 0, resumed.stderr);
  for (const sink of [net.sink('127.0.0.2'), net.sink('127.0.0.4')]) {
    const bySubject = new Map<string, number>();
    for (const m of sink.messages) {
      const subject = /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1] ?? '';
      bySubject.set(subject, (bySubject.get(subject) ?? 0) + 1);
    }
    assert.equal(bySubject.size, 150, 'every message reached every destination at least once');
    const duplicates = [...bySubject.values()].filter((n) => n > 1).length;
    assert.ok(duplicates <= concurrency, `duplicates (${duplicates}) only from the ${concurrency} transactions in flight`);
  }
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});

test('STARTTLS: used when an MX offers it (certificate not checked by default), plain when not; mx.tls verify refuses an unverifiable MX', async (t) => {
  const tls = {
    disabledCommands: [] as string[],
    key: fs.readFileSync(path.join(ROOT, 'test/fixtures/localhost-key.pem')),
    cert: fs.readFileSync(path.join(ROOT, 'test/fixtures/localhost-cert.pem')),
  };
  const net = await startMxNetwork(structuredClone(ZONE), ['127.0.0.2', '127.0.0.4'], (address) =>
    address === '127.0.0.2' ? { server: tls } : {},
  );
  t.after(() => net.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  await writeConfig(home, net.config);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['a@club.example', 'b@plain.example'], message: message('tls') });
  assert.equal((await flushQueue({ home })).outcome, 'done');
  assert.equal(net.sink('127.0.0.2').messages[0]!.secure, true, 'STARTTLS offered: used');
  assert.equal(net.sink('127.0.0.4').messages[0]!.secure, false, 'not offered: plain');

  await writeConfig(home, { ...net.config, mx: { ...(net.config.mx as object), tls: 'verify' } });
  const { id } = await enqueueMessage(spool, { from: 'list@club.example', recipients: ['c@club.example'], message: message('verify') });
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'pending');
  assert.equal(net.sink('127.0.0.2').messages.length, 1, 'nothing sent over an unverified connection');
  assert.equal((await readEntryState(spool, id))!.recipients[0]!.attempts, 0);
});

test('DKIM: mail from a domain with a key is signed (d=, s=, a body hash that matches), other senders go unsigned; a bad key file is a config error', async (t) => {
  const { net, home, spool, config } = await setup(t);
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = path.join(home, 'club.key');
  fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await config({ dkim: { club: { domain: 'club.example', selector: 's2026', keyFile } } });
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['a@club.example'], message: message('signed') });
  await enqueueMessage(spool, { from: 'other@elsewhere.example', recipients: ['b@club.example'], message: message('unsigned') });
  assert.equal((await flushQueue({ home })).outcome, 'done');
  const sink = net.sink('127.0.0.2');
  const signed = sink.messages.find((m) => m.from === 'list@club.example')!.raw.toString();
  const unsigned = sink.messages.find((m) => m.from === 'other@elsewhere.example')!.raw.toString();
  const header = /^DKIM-Signature: ([\s\S]*?)\r\n(?=\S)/m.exec(signed)?.[1]?.replace(/\r\n\s+/g, ' ');
  assert.ok(header, 'signed');
  assert.match(header, /d=club\.example/);
  assert.match(header, /s=s2026/);
  const body = signed.slice(signed.indexOf('\r\n\r\n') + 4);
  const bodyHash = crypto.createHash('sha256').update(body).digest('base64');
  assert.match(header.replace(/\s/g, ''), new RegExp(`bh=${bodyHash.replace(/[+/=]/g, (c) => `\\${c}`)}`));
  assert.ok(signed.endsWith(message('signed').slice(message('signed').indexOf('From:'))), 'the message itself is unchanged');
  assert.doesNotMatch(unsigned, /DKIM-Signature/);

  await config({ dkim: { club: { domain: 'club.example', selector: 's2026', keyFile: path.join(home, 'missing.key') } } });
  const broken = await runCli(['flush'], { home });
  assert.equal(broken.code, 78);
  assert.match(broken.stderr, /dkim\.club\.keyFile/);
});
