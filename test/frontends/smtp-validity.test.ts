/**
 * Issue 11 item 7: what reaches the smarthost is valid SMTP, decided at
 * intake. A message accepted with exit 0 (or 250) never bounces for
 * something its bytes or envelope already showed: long lines are broken at
 * 998 octets, a NUL byte is refused (65 / 554), an IDN domain travels as
 * A-labels, and a UTF-8 local part never goes raw to a smarthost without
 * SMTPUTF8. Real sendmail processes, a real listener and a real smarthost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli, SENDMAIL } from '../support/cli.js';
import { openRaw, sendRawMessage } from '../support/smtp-client.js';
import { listEntryIds, openSpool, readEntryState } from '../../src/spool/index.js';
import { startListener } from '../../src/frontends/listener/start-listener.js';

async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const made = await makeTempHome();
  t.after(made.cleanup);
  return made.home;
}

function longestLine(raw: Buffer): number {
  return Math.max(...raw.toString('latin1').split(/\r?\n/).map((l) => l.length));
}

test('lines over 998 octets (header and body) are broken at intake; the smarthost gets only valid lines, content intact', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const dir = await home(t);
  await writeConfig(dir, { smarthost: server.url, from: 'ada@example.org' });
  const longHeader = `X-Long: ${'h'.repeat(1500)}`;
  const longBody = `${'b'.repeat(2500)}é${'c'.repeat(996)}`; // the é (2 octets) must not be split
  const message = `From: ada@example.org\nSubject: long\n${longHeader}\n\n${longBody}\nend\n`;
  const queued = await runCli(['bob@example.net'], { home: dir, bin: SENDMAIL, input: message });
  assert.equal(queued.code, 0, queued.stderr);
  const flushed = await runCli(['flush'], { home: dir });
  assert.equal(flushed.code, 0, flushed.stderr);
  assert.equal(server.messages.length, 1);
  const raw = server.messages[0]!.raw;
  assert.ok(longestLine(raw) <= 998, `a line of ${longestLine(raw)} octets reached the smarthost`);
  const text = raw.toString('utf8');
  assert.ok(!text.includes('\uFFFD'), 'no UTF-8 sequence was split');
  const unbroken = text.replace(/\r\n/g, '\n').replaceAll('\n ', '');
  assert.ok(unbroken.includes(longHeader), 'the long header unfolds to its value');
  assert.ok(unbroken.includes(`${longBody}\nend\n`), 'the long body line is all there');
});

test('a NUL byte is refused at intake: sendmail exits 65, the listener answers 554; nothing is queued', async (t) => {
  const dir = await home(t);
  await writeConfig(dir, { from: 'ada@example.org' });
  const message = Buffer.concat([Buffer.from('From: ada@example.org\nSubject: nul\n\nbefore'), Buffer.from([0]), Buffer.from('after\n')]);
  const result = await runCli(['bob@example.net'], { home: dir, bin: SENDMAIL, input: message });
  assert.equal(result.code, 65, result.stderr);
  assert.match(result.stderr, /NUL byte/);
  const spool = await openSpool(dir);
  assert.deepEqual(await listEntryIds(spool), []);

  const listener = await startListener({
    home: dir,
    settings: { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
    nudge: false,
  });
  t.after(() => listener.close());
  const client = await openRaw(listener.port);
  t.after(() => client.close());
  const reply = await sendRawMessage(client, 'ada@example.org', ['bob@example.net'], Buffer.concat([Buffer.from('Subject: nul\r\n\r\nx'), Buffer.from([0]), Buffer.from('y\r\n')]));
  assert.equal(reply.code, 554, reply.text);
  assert.match(reply.text, /NUL byte/);
  assert.deepEqual(await listEntryIds(spool), []);
});

test('an IDN domain is queued and sent as A-labels; a UTF-8 local part fails alone (5.6.7) at a smarthost without SMTPUTF8', async (t) => {
  const server = await startCaptureServer({ server: { hideSMTPUTF8: true } });
  t.after(() => server.close());
  const dir = await home(t);
  await writeConfig(dir, { smarthost: server.url, from: 'ada@example.org' });
  const queued = await runCli(['bob@bücher.example', 'zoë@example.net'], {
    home: dir,
    bin: SENDMAIL,
    input: 'From: ada@example.org\nSubject: idn\n\nhi\n',
  });
  assert.equal(queued.code, 0, queued.stderr);
  const spool = await openSpool(dir);
  const [id] = await listEntryIds(spool);
  const state = await readEntryState(spool, id!);
  assert.deepEqual(state?.recipients.map((r) => r.address), ['bob@xn--bcher-kva.example', 'zoë@example.net']);
  await runCli(['flush'], { home: dir });
  const sent = server.messages.filter((m) => m.from === 'ada@example.org');
  // smtp-server shows a domain in U-labels whatever came on the wire; the state above shows what we send.
  assert.deepEqual(sent.map((m) => m.to), [['bob@bücher.example']], 'the UTF-8 local part never went raw');
  const bounce = server.messages.find((m) => m.from === '');
  assert.ok(bounce, 'the sender hears about zoë');
  assert.match(bounce.raw.toString('utf8'), /5\.6\.7/);
  // A domain that is not a valid IDN is refused at intake.
  const bad = await runCli(['bob@xn--\u00fc.example'], { home: dir, bin: SENDMAIL, input: 'Subject: x\n\nhi\n' });
  assert.equal(bad.code, 65, bad.stderr);
});
