/**
 * Accounts chosen by sender (issue 8 item 3) through the real flush engine,
 * each account against its own smarthost on 127.0.0.1: the exact sender,
 * the @domain and the default each reach their own server; one account
 * held while another delivers; bounces go through the default account;
 * routes may name an account; only the accounts mail needs are contacted.
 * And the recipients per transaction a smarthost teaches with "452 4.5.3
 * too many recipients" (item 6).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, messageText } from '../support/spool-fixtures.js';
import { runCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, readAccountHold, readEntryState, readLearntFigure } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

const GMAIL_LIMIT = { code: 550, message: '5.4.5 Daily user sending limit exceeded - gsmtp' };

async function servers(t: { after: (fn: () => Promise<void>) => void }, n: number): Promise<CaptureServer[]> {
  const list: CaptureServer[] = [];
  for (let i = 0; i < n; i++) list.push(await startCaptureServer());
  t.after(async () => {
    for (const s of list) await s.close();
  });
  return list;
}

async function logLines(home: string): Promise<Array<Record<string, unknown>>> {
  const text = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('the exact sender, its @domain and the default each go through their own account and smarthost; status, show and log name it', async (t) => {
  const [main, club, news] = await servers(t, 3);
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, {
    smarthost: main!.url,
    accounts: {
      club: { smarthost: club!.url, senders: ['@club.example'] },
      news: { smarthost: news!.url, senders: ['news@club.example'] },
    },
  });
  const queue = async (from: string, to: string) => (await enqueueMessage(spool, { from, recipients: [to], message: messageText(`from ${from}`, from) })).id;
  const byExact = await queue('News@Club.example', 'a@dest.example');
  await queue('list@club.example', 'b@dest.example');
  await queue('me@home.example', 'c@dest.example');

  const status = await runCli(['status', '--json'], { home });
  assert.equal(status.code, 0, status.stderr);
  const rows = JSON.parse(status.stdout) as Array<{ id: string; from: string; account: string }>;
  assert.deepEqual(Object.fromEntries(rows.map((r) => [r.from, r.account])), {
    'News@club.example': 'news',
    'list@club.example': 'club',
    'me@home.example': 'default',
  });
  const show = await runCli(['show', byExact], { home });
  assert.match(show.stdout, /^account +news \(smtp:\/\/127\.0\.0\.1:\d+\)$/m);
  const plainStatus = await runCli(['status'], { home });
  assert.match(plainStatus.stdout, /news/);

  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'done');
  assert.equal(result.exitCode, 0);
  assert.equal(result.sent, 3);
  assert.deepEqual(news!.messages.map((m) => [m.from, m.to]), [['News@club.example', ['a@dest.example']]]);
  assert.deepEqual(club!.messages.map((m) => [m.from, m.to]), [['list@club.example', ['b@dest.example']]]);
  assert.deepEqual(main!.messages.map((m) => [m.from, m.to]), [['me@home.example', ['c@dest.example']]]);
  const log = await logLines(home);
  assert.deepEqual(Object.fromEntries(log.map((l) => [l.recipient, l.account])), { 'a@dest.example': 'news', 'b@dest.example': 'club', 'c@dest.example': 'default' });
  const logCmd = await runCli(['log'], { home });
  assert.match(logCmd.stdout, /b@dest\.example.*club/);
});

test('one account paused by its provider while the others deliver; the next flush does not contact it; its mail waits untouched', async (t) => {
  const main = await startCaptureServer();
  const club = await startCaptureServer({ dataReply: () => GMAIL_LIMIT });
  t.after(async () => {
    await main.close();
    await club.close();
  });
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: main.url, accounts: { club: { smarthost: club.url, senders: ['@club.example'] } } });
  for (let i = 0; i < 3; i++) {
    await enqueueMessage(spool, { from: 'list@club.example', recipients: [`m${i}@dest.example`], message: messageText(`club ${i}`) });
    await enqueueMessage(spool, { from: 'me@home.example', recipients: [`h${i}@dest.example`], message: messageText(`home ${i}`) });
  }
  const held: string[] = [];
  const events = new FlushEvents();
  events.on('held', (h) => held.push(h.account));
  const first = await flushQueue({ home, events });
  assert.equal(first.outcome, 'held');
  assert.equal(first.exitCode, 75);
  assert.equal(main.messages.length, 3, 'the default account delivered all of its mail');
  assert.equal(club.messages.length, 0);
  assert.deepEqual(first.holds.map((h) => [h.account, h.kind]), [['club', 'quota']]);
  assert.deepEqual(held, ['club']);
  assert.equal(readAccountHold(spool, 'default'), null);
  const ids = await listStateFileIdsIncludingFinished(spool);
  assert.equal(ids.length, 3, 'only the club\'s mail is left');
  for (const id of ids) {
    const state = await readEntryState(spool, id);
    assert.equal(state?.from, 'list@club.example');
    for (const r of state!.recipients) assert.deepEqual([r.status, r.attempts], ['pending', 0]);
  }

  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['late@dest.example'], message: messageText('late') });
  const clubConnections = club.connections;
  const second = await flushQueue({ home });
  assert.equal(second.outcome, 'held');
  assert.equal(main.messages.length, 4, 'a held account does not stop the others');
  assert.equal(club.connections, clubConnections, 'the paused account is not contacted');
});

test('bounces go out through the default account, in the same flush', async (t) => {
  const main = await startCaptureServer();
  const club = await startCaptureServer({ rcptReply: (a) => (a.startsWith('gone') ? { code: 550, message: '5.1.1 no such user' } : null) });
  t.after(async () => {
    await main.close();
    await club.close();
  });
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: main.url, accounts: { club: { smarthost: club.url, senders: ['@club.example'] } } });
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['gone@dest.example', 'here@dest.example'], message: messageText('post') });
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'done');
  assert.equal(result.bounces, 1);
  assert.deepEqual(club.messages.map((m) => m.to), [['here@dest.example']]);
  assert.equal(main.messages.length, 1, 'the DSN went through the default account');
  assert.equal(main.messages[0]!.from, '');
  assert.deepEqual(main.messages[0]!.to, ['list@club.example']);
  assert.equal(club.messages.some((m) => m.from === ''), false);
});

test('a route may name an account: one entry split over two accounts by recipient domain is delivered whole', async (t) => {
  const [main, partner] = await servers(t, 2);
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, {
    smarthost: main!.url,
    routes: 'partner.example=relay,*=smarthost',
    accounts: { relay: { smarthost: partner!.url, senders: ['relay-only@nowhere.example'] } },
  });
  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['x@partner.example', 'y@other.example'], message: messageText('split') });
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'done');
  assert.equal(result.exitCode, 0);
  assert.equal(result.sent, 2);
  assert.deepEqual(partner!.messages.map((m) => m.to), [['x@partner.example']]);
  assert.deepEqual(main!.messages.map((m) => m.to), [['y@other.example']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  const bad = await runCli(['config', 'set', 'routes', 'partner.example=nobody'], { home });
  assert.equal(bad.code, 78);
  assert.match(bad.stderr, /known: smarthost, mx, default, relay/);
});

test('only the accounts mail needs are probed: an account down holds only its mail (offline when it is all)', async (t) => {
  const main = await startCaptureServer();
  const down = await startCaptureServer();
  await down.stop();
  t.after(() => main.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: main.url, timeouts: { probe: '2s' }, accounts: { club: { smarthost: down.url, senders: ['@club.example'] } } });
  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['a@dest.example'], message: messageText('home') });
  const warnings: string[] = [];
  const events = new FlushEvents();
  events.on('warning', (w) => warnings.push(w));
  const only = await flushQueue({ home, events });
  assert.equal(only.outcome, 'done');
  assert.deepEqual(only.probes.map((p) => p.smarthost), [main.url.replace('smtp://', 'smtp://') + ''].map((u) => u));
  assert.deepEqual(warnings, []);

  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['b@dest.example'], message: messageText('club') });
  const offline = await flushQueue({ home });
  assert.equal(offline.outcome, 'offline', 'the one account needed does not answer');
  assert.equal(offline.exitCode, 75);

  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['c@dest.example'], message: messageText('home 2') });
  const mixed = await flushQueue({ home, events });
  assert.equal(mixed.outcome, 'pending');
  assert.equal(main.messages.length, 2);
  assert.ok(warnings.some((w) => /account club: no smarthost answered; its recipients wait/.test(w)), warnings.join('\n'));
  const left = await listStateFileIdsIncludingFinished(spool);
  assert.equal(left.length, 1);
  const state = await readEntryState(spool, left[0]!);
  assert.deepEqual(state!.recipients.map((r) => [r.status, r.attempts]), [['pending', 0]], 'offline is not failure');
});

test('452 4.5.3 after N recipients: the rest go at once in transactions of N, nothing counted, and N is kept for later flushes', async (t) => {
  const N = 3;
  const server = await startCaptureServer({
    server: {
      onRcptTo(address, session, callback) {
        if (session.envelope.rcptTo.length >= N) {
          const err = new Error('4.5.3 Too many recipients') as Error & { responseCode: number };
          err.responseCode = 452;
          callback(err);
          return;
        }
        callback();
      },
    },
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, accounts: { club: { smarthost: server.url, senders: ['@club.example'], maxRecipientsPerTransaction: 50 } } });
  const recipients = Array.from({ length: 10 }, (_, i) => `m${i}@d${i}.example`);
  await enqueueMessage(spool, { from: 'list@club.example', recipients, message: messageText('post') });
  const warnings: string[] = [];
  const events = new FlushEvents();
  events.on('warning', (w) => warnings.push(w));
  const first = await flushQueue({ home, events });
  assert.equal(first.outcome, 'done', JSON.stringify(first));
  assert.equal(first.sent, 10);
  assert.equal(first.deferred, 0, 'the put-off recipients are not deferred');
  assert.deepEqual(server.dots.map((d) => d.length), [3, 3, 3, 1]);
  assert.equal(server.deliveriesByRecipient().size, 10);
  assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
  const log = await logLines(home);
  assert.deepEqual([...new Set(log.map((l) => l.attempts))], [1], 'one attempt each: the 452 counted nothing');
  assert.ok(warnings.some((w) => /account club: the smarthost takes 3 recipients per transaction \(452 4\.5\.3 Too many recipients/.test(w)), warnings.join('\n'));
  assert.deepEqual({ ...readLearntFigure(spool, 'club', 'recipients'), learnedAt: 'x' }, {
    version: 1,
    account: 'club',
    max: 3,
    configured: 50,
    learnedAt: 'x',
    reply: '452 4.5.3 Too many recipients (in reply to RCPT TO)',
  });
  assert.equal(readLearntFigure(spool, 'default', 'recipients'), null, 'per account');

  // A later flush starts from what was learnt: no 452 at all.
  await enqueueMessage(spool, { from: 'list@club.example', recipients: recipients.slice(0, 7), message: messageText('post 2') });
  const before = server.dots.length;
  const second = await flushQueue({ home });
  assert.equal(second.outcome, 'done');
  assert.deepEqual(server.dots.slice(before).map((d) => d.length), [3, 3, 1]);
  const show = await runCli(['account', 'show', 'club'], { home });
  assert.match(show.stdout, /recipients per transaction: 50 \(the smarthost takes 3/);
});

test('an account that cannot authenticate as configured (OAuth2 preset without a client id) waits; the others deliver; alone it fails the flush with 78', async (t) => {
  const [main, gmailish] = await servers(t, 2);
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, {
    smarthost: main!.url,
    accounts: { gm: { preset: 'gmail', smarthost: gmailish!.url, senders: ['me@gmail.com'], auth: { user: 'me@gmail.com' } } },
  });
  await enqueueMessage(spool, { from: 'me@gmail.com', recipients: ['a@dest.example'], message: messageText('gmail') });
  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['b@dest.example'], message: messageText('home') });
  const warnings: string[] = [];
  const events = new FlushEvents();
  events.on('warning', (w) => warnings.push(w));
  const result = await flushQueue({ home, events });
  assert.equal(result.outcome, 'pending');
  assert.deepEqual(main!.messages.map((m) => m.to), [['b@dest.example']]);
  assert.equal(gmailish!.messages.length, 0);
  assert.ok(warnings.some((w) => /^account gm: .*accounts\.gm\.oauth2\.clientId.*; its mail waits$/.test(w)), warnings.join('\n'));
  const alone = await runCli(['flush'], { home });
  assert.equal(alone.code, 78, alone.stderr);
  assert.match(alone.stderr, /accounts\.gm\.oauth2\.clientId/);
  const [left] = await listStateFileIdsIncludingFinished(spool);
  const state = await readEntryState(spool, left!);
  assert.deepEqual(state!.recipients.map((r) => [r.status, r.attempts]), [['pending', 0]]);
});
