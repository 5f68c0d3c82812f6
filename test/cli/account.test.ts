/**
 * `bulkmailer account add|list|show|remove` and `config set
 * accounts.NAME.KEY`, through the real bin/: what they write to
 * config.json, what they print (and never print: secrets), and how they
 * refuse (bad name 64, a sender claimed twice 78, remove with mail queued
 * for the account 75) without writing anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { enqueueMessage, openSpool, writeLearntFigure } from '../../src/spool/index.js';

async function readConfigFile(home: string): Promise<Record<string, any>> {
  return JSON.parse(await fs.readFile(path.join(home, 'config.json'), 'utf8')) as Record<string, any>;
}

test('account add with a preset writes only what was given; list --json and show give the resolved account', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { smarthost: 'smtp://127.0.0.1:2500' });
  const add = await runCli(['account', 'add', 'gm', '--preset', 'gmail', '--senders', 'Me@Gmail.com,@family.example', '--user', 'me@gmail.com'], { home });
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /^account gm added: smarthost smtp:\/\/smtp\.gmail\.com:587; senders me@gmail\.com, @family\.example$/m);
  assert.match(add.stdout, /^preset gmail \(Gmail \(personal\)\): /m);
  const file = await readConfigFile(home);
  assert.deepEqual(file.accounts, { gm: { senders: ['Me@Gmail.com', '@family.example'], preset: 'gmail', auth: { user: 'me@gmail.com' } } });
  assert.equal((await fs.stat(path.join(home, 'config.json'))).mode & 0o777, 0o600);

  // An override with config set wins over the preset; a secret never comes back out.
  for (const [key, value] of [['accounts.gm.limits', '100/day'], ['accounts.gm.auth.pass', 'hunter2secret']]) {
    const set = await runCli(['config', 'set', key!, value!], { home });
    assert.equal(set.code, 0, set.stderr);
  }
  const list = await runCli(['account', 'list', '--json'], { home });
  assert.equal(list.code, 0, list.stderr);
  const views = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(views.map((v) => v.name), ['default', 'gm']);
  assert.equal(views[0]!.smarthost, 'smtp://127.0.0.1:2500');
  assert.equal(views[1]!.limits, '100/day', 'config set beats the preset');
  assert.equal(views[1]!.maxRecipientsPerTransaction, 100, 'from the preset');
  assert.deepEqual(views[1]!.senders, ['me@gmail.com', '@family.example']);
  assert.equal(views[1]!.user, 'me@gmail.com');

  const plain = await runCli(['account', 'list'], { home });
  assert.match(plain.stdout, /^default {2}smtp:\/\/127\.0\.0\.1:2500 {2}every other sender$/m);
  assert.match(plain.stdout, /^gm {2}smtp:\/\/smtp\.gmail\.com:587 {2}me@gmail\.com, @family\.example {2}\[preset gmail; limits 100\/day\]$/m);

  const spool = await openSpool(home);
  await writeLearntFigure(spool, 'recipients', { version: 1, account: 'gm', max: 7, configured: 100, learnedAt: new Date().toISOString(), reply: '452 4.5.3 Too many recipients' });
  const show = await runCli(['account', 'show', 'gm'], { home });
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^ {2}recipients per transaction: 100 \(the smarthost takes 7: learnt from "452 too many recipients"\)$/m);
  assert.match(show.stdout, /^ {4}limits 500\/day: https:\/\/developers\.google\.com\/\S+ \(checked \d{4}-\d{2}-\d{2}\)$/m);
  const showJson = JSON.parse((await runCli(['account', 'show', 'gm', '--json'], { home })).stdout) as Record<string, any>;
  assert.equal(showJson.learntRecipientsPerTransaction, 7);
  assert.equal(showJson.presetSources.smarthost.value, 'smtp://smtp.gmail.com:587');
  for (const out of [list.stdout, plain.stdout, show.stdout, JSON.stringify(showJson), (await runCli(['config', 'list'], { home })).stdout]) {
    assert.equal(out.includes('hunter2secret'), false);
  }
  const unknown = await runCli(['account', 'show', 'nope'], { home });
  assert.equal(unknown.code, 78);
  assert.match(unknown.stderr, /no account named nope; known: default, gm/);
});

test('account add refuses a bad name (64), a missing way out (64), a sender another account has (78), an existing name (64): nothing written', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { accounts: { a: { smarthost: 'smtp://127.0.0.1:2501', senders: ['@club.example'] } } });
  const before = await fs.readFile(path.join(home, 'config.json'), 'utf8');
  const cases: [string[], number, RegExp][] = [
    [['account', 'add', 'Bad!', '--smarthost', 'smtp://h', '--senders', 'x@y.example'], 64, /not an account name/],
    [['account', 'add', 'default', '--smarthost', 'smtp://h', '--senders', 'x@y.example'], 64, /default account is the top-level settings/],
    [['account', 'add', 'b', '--senders', 'x@y.example'], 64, /--smarthost URL, or --preset/],
    [['account', 'add', 'b', '--smarthost', 'smtp://h'], 64, /which senders use it/],
    [['account', 'add', 'b', '--smarthost', 'smtp://h', '--senders', '@CLUB.example'], 78, /@club\.example is claimed by accounts a and b/],
    [['account', 'add', 'b', '--smarthost', 'http://h', '--senders', 'x@y.example'], 78, /smarthost/],
    [['account', 'add', 'a', '--smarthost', 'smtp://h', '--senders', 'x@y.example'], 64, /account a exists/],
    [['account', 'add', 'b', '--preset', 'aol', '--senders', 'x@y.example'], 64, /aol/],
    [['config', 'set', 'accounts.b.senders', '@club.example'], 78, /claimed by accounts a and b|has no smarthost/],
  ];
  for (const [args, code, message] of cases) {
    const run = await runCli(args, { home });
    assert.equal(run.code, code, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(' '));
    assert.equal(await fs.readFile(path.join(home, 'config.json'), 'utf8'), before, `${args.join(' ')} wrote nothing`);
  }
});

test('account remove refuses while mail is queued for the account (75), --force removes it and forgets its spool records', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, {
    smarthost: 'smtp://127.0.0.1:2500',
    accounts: { club: { smarthost: 'smtp://127.0.0.1:2501', senders: ['@club.example'] }, idle: { smarthost: 'smtp://127.0.0.1:2502', senders: ['x@idle.example'] } },
  });
  const spool = await openSpool(home);
  await enqueueMessage(spool, { from: 'list@club.example', recipients: ['a@dest.example'], message: Buffer.from('Subject: x\r\n\r\nhi\r\n') });
  await enqueueMessage(spool, { from: 'me@home.example', recipients: ['b@dest.example'], message: Buffer.from('Subject: y\r\n\r\nhi\r\n') });
  await writeLearntFigure(spool, 'recipients', { version: 1, account: 'club', max: 5, configured: 100, learnedAt: new Date().toISOString(), reply: '452' });
  await writeLearntFigure(spool, 'connections', { version: 1, account: 'club', max: 3, configured: 10, learnedAt: new Date().toISOString(), reply: '432 4.3.2' });

  const list = JSON.parse((await runCli(['account', 'list', '--json'], { home })).stdout) as Array<{ name: string; queued: number }>;
  assert.deepEqual(list.map((a) => [a.name, a.queued]), [['default', 1], ['club', 1], ['idle', 0]]);

  const refused = await runCli(['account', 'remove', 'club'], { home });
  assert.equal(refused.code, 75);
  assert.match(refused.stderr, /1 entry queued for account club; flush them first, or remove with --force/);
  assert.ok((await readConfigFile(home)).accounts.club, 'still there');

  const idle = await runCli(['account', 'remove', 'idle'], { home });
  assert.equal(idle.code, 0, idle.stderr);
  const forced = await runCli(['account', 'remove', 'club', '--force'], { home });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /account club removed; 1 queued entry now go(es)? out through the default account/);
  assert.deepEqual((await readConfigFile(home)).accounts, {});
  await assert.rejects(fs.stat(path.join(spool.root, 'accounts', 'club.rcpt.json')), /ENOENT/);
  await assert.rejects(fs.stat(path.join(spool.root, 'accounts', 'club.conn.json')), /ENOENT/, 'the learnt connections at once go too');
  const after = JSON.parse((await runCli(['account', 'list', '--json'], { home })).stdout) as Array<{ name: string; queued: number }>;
  assert.deepEqual(after.map((a) => [a.name, a.queued]), [['default', 2]], 'its mail now goes the default way');
  const gone = await runCli(['account', 'remove', 'club'], { home });
  assert.equal(gone.code, 64);
});

test('doctor checks every account: each smarthost reached, its AUTH tried with its own credentials', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const { startCaptureServer } = await import('../support/capture-server.js');
  const main = await startCaptureServer();
  const club = await startCaptureServer({
    server: {
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, callback) {
        if (auth.username === 'clubuser' && auth.password === 'clubpass') callback(null, { user: 'clubuser' });
        else callback(new Error('535 5.7.8 bad credentials'));
      },
    },
  });
  const down = await startCaptureServer();
  await down.stop();
  t.after(async () => {
    await main.close();
    await club.close();
  });
  await writeConfig(home, {
    smarthost: main.url,
    timeouts: { probe: '2s', connect: '2s' },
    accounts: {
      club: { smarthost: club.url.replace('smtp://', 'smtp://clubuser@'), senders: ['@club.example'], auth: { pass: 'clubpass' } },
      gone: { smarthost: down.url, senders: ['@gone.example'] },
    },
  });
  const run = await runCli(['doctor', '--json'], { home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
  const checks = (JSON.parse(run.stdout) as { checks: { id: string; title: string; status: string; detail: string }[] }).checks;
  const find = (id: string, title: RegExp) => checks.find((c) => c.id === id && title.test(c.title));
  assert.equal(find('smarthost.reach', new RegExp(`^smtp://127\\.0\\.0\\.1:${main.port}: reachable`))?.status, 'pass');
  assert.equal(find('smarthost.reach', new RegExp(`^account club: smtp://clubuser@127\\.0\\.0\\.1:${club.port}: reachable`))?.status, 'pass');
  assert.equal(find('smarthost.auth', /^account club: /)?.status, 'pass', JSON.stringify(checks.filter((c) => /club/.test(c.title))));
  assert.equal(find('smarthost.reach', /^account gone: /)?.status, 'fail');
  assert.equal(run.code, 1, 'a failing check: exit 1');
  assert.equal(run.stdout.includes('clubpass'), false);
});
