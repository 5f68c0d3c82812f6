import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeTempHome, writeConfig } from '../support/home.js';
import { loadRuntimeConfig } from '../../src/config/runtime.js';
import { loadStoredConfig } from '../../src/config/store.js';
import { ACCOUNT_SETTINGS, CONFIG_SPEC, lookupConfigKey } from '../../src/config/schema.js';
import { DEFAULT_ACCOUNT, accountForSender, listAccounts, resolveAccount } from '../../src/config/accounts.js';
import { PRESETS, PRESET_NAMES } from '../../src/config/presets.js';
import { parseLimits } from '../../src/model/sending-limits.js';
import { parseSmarthostUrl } from '../../src/config/smarthost.js';

test('the account settings are one group: the top level and every accounts.NAME have the same keys', () => {
  const map = CONFIG_SPEC.fields.accounts;
  assert.equal(map?.kind, 'map');
  if (map?.kind !== 'map') return;
  for (const key of Object.keys(ACCOUNT_SETTINGS)) {
    assert.deepEqual(map.value.fields[key], CONFIG_SPEC.fields[key], key);
    assert.equal(lookupConfigKey(`accounts.work.${key}`).found || map.value.fields[key]?.kind === 'group', true, key);
  }
  assert.equal(lookupConfigKey('accounts.work.auth.passwordCommand').found, true);
  assert.equal(lookupConfigKey('accounts.work.senders').found, true);
  assert.equal(lookupConfigKey('senders').found, false, 'senders belong to named accounts only');
  assert.equal(lookupConfigKey('accounts.Work.smarthost').found, false, 'names are lower case');
});

test('the envelope sender picks the account: exact address, then @domain, then default; the null sender is default', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, {
    smarthost: 'smtp://127.0.0.1:2500',
    accounts: {
      club: { smarthost: 'smtp://127.0.0.1:2501', senders: ['@club.example'] },
      news: { smarthost: 'smtp://127.0.0.1:2502', senders: ['News@Club.example', 'me@other.example'] },
    },
  });
  const config = loadRuntimeConfig(home);
  assert.equal(accountForSender(config, 'news@club.example'), 'news', 'the exact address beats its domain');
  assert.equal(accountForSender(config, 'NEWS@club.EXAMPLE'), 'news', 'case does not matter');
  assert.equal(accountForSender(config, 'list-bounces@club.example'), 'club');
  assert.equal(accountForSender(config, 'me@other.example'), 'news');
  assert.equal(accountForSender(config, 'you@other.example'), DEFAULT_ACCOUNT);
  assert.equal(accountForSender(config, 'x@sub.club.example'), DEFAULT_ACCOUNT, '@domain is that domain only');
  assert.equal(accountForSender(config, ''), DEFAULT_ACCOUNT, 'bounces (DSNs) go through the default account');
  assert.deepEqual(listAccounts(config).map((a) => a.name), ['default', 'club', 'news']);
  assert.equal(resolveAccount(config, 'club').smarthosts[0]?.port, 2501);
  assert.equal(resolveAccount(config, 'default').smarthosts[0]?.port, 2500);
  assert.throws(() => resolveAccount(config, 'nope'), /no account named nope; known: default, club, news/);
});

test('a sender claimed twice, an account without smarthost and accounts.default are config errors (exit 78)', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ a: { smarthost: 'smtp://h:25', senders: ['@x.example'] }, b: { smarthost: 'smtp://h:26', senders: ['@X.example'] } }, /@x\.example is claimed by accounts a and b/],
    [{ a: { senders: ['me@x.example'] } }, /account a has no smarthost; set accounts\.a\.smarthost or accounts\.a\.preset/],
    [{ default: { smarthost: 'smtp://h:25' } }, /accounts\.default: the default account is the top-level settings/],
    [{ a: { smarthost: 'smtp://h:25', pauses: { quota: 'soon' } } }, /`?accounts\.a\.pauses\.quota`? must match/],
    [{ mx: { smarthost: 'smtp://h:25' } }, /accounts\.mx: "mx" names a transport in routes/],
  ];
  for (const [accounts, message] of cases) {
    await writeConfig(home, { accounts });
    assert.throws(
      () => loadRuntimeConfig(home),
      (err: Error & { exitCode?: number }) => message.test(err.message) && err.exitCode === 78,
      String(message),
    );
  }
});

test('a preset fills host, port, TLS mode and the published limits; what the account sets wins', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, {
    accounts: {
      mail: { preset: 'gmail', senders: ['me@gmail.com'], auth: { user: 'me@gmail.com' } },
      bulk: { preset: 'ses', smarthost: 'smtp://email-smtp.eu-west-1.amazonaws.com:587', limits: '14rcpt/second,50000rcpt/day' },
      fm: { preset: 'fastmail' },
      work: { preset: 'microsoft365', senders: ['me@work.example'] },
      work2: { preset: 'microsoft365', senders: ['me@work2.example'], concurrency: 2 },
    },
  });
  const config = loadRuntimeConfig(home);
  const mail = resolveAccount(config, 'mail');
  assert.equal(mail.smarthosts[0]?.display, 'smtp://smtp.gmail.com:587');
  assert.equal(mail.smarthosts[0]?.secure, false, 'port 587: STARTTLS');
  assert.equal(mail.limits, '500/day');
  assert.equal(mail.maxRecipientsPerTransaction, 100);
  assert.equal(mail.stored.auth.user, 'me@gmail.com', 'the account\'s own auth keys stay beside the preset');
  const bulk = resolveAccount(config, 'bulk');
  assert.equal(bulk.smarthosts[0]?.host, 'email-smtp.eu-west-1.amazonaws.com', 'an explicit smarthost beats the preset');
  assert.equal(bulk.limits, '14rcpt/second,50000rcpt/day', 'explicit limits beat the preset');
  assert.equal(bulk.maxRecipientsPerTransaction, 50, 'what it does not set still comes from the preset');
  const fm = resolveAccount(config, 'fm');
  assert.equal(fm.smarthosts[0]?.secure, true, 'smtps: TLS from the first byte');
  assert.equal(fm.smarthosts[0]?.port, 465);
  assert.equal(fm.limits, '', 'no published limit: none');
  assert.equal(fm.concurrency, 20, 'no published connection limit: the default');
  // Exchange Online takes three SMTP AUTH connections per mailbox at once; a fourth's mail is refused (432 4.3.2).
  assert.equal(resolveAccount(config, 'work').concurrency, 3);
  assert.equal(resolveAccount(config, 'work2').concurrency, 2, 'an explicit concurrency beats the preset');
  // The file keeps only what the user wrote: a corrected preset reaches every account that did not override it.
  assert.equal((loadStoredConfig(home).accounts.mail as { limits: string }).limits, '500/day');
});

test('every preset parses: a URL on the internet (TLS), limits in our grammar, a source and a check date per figure', () => {
  for (const name of PRESET_NAMES) {
    const preset = PRESETS[name];
    const smarthost = parseSmarthostUrl(preset.smarthost.value);
    assert.equal(smarthost.loopback, false, name);
    assert.ok(smarthost.secure || smarthost.port === 587, `${name}: implicit TLS or submission with STARTTLS`);
    if (preset.limits !== null) assert.ok(parseLimits(preset.limits.value).length > 0, name);
    for (const figure of [preset.smarthost, preset.authMethod, preset.limits, preset.maxRecipientsPerTransaction, preset.concurrency]) {
      if (figure === null) continue;
      assert.match(figure.source, /^https:\/\//, name);
      assert.match(figure.checked, /^\d{4}-\d{2}-\d{2}$/, name);
    }
  }
  assert.equal(PRESETS.gmail.authMethod.value, 'oauth2');
  assert.equal(PRESETS.microsoft365.authMethod.value, 'oauth2');
  assert.equal(PRESETS.ses.authMethod.value, 'password');
});

test('the README\'s preset table says what the presets table in code says', async () => {
  const { readFile } = await import('node:fs/promises');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  for (const name of PRESET_NAMES) {
    const preset = PRESETS[name];
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    assert.ok(row !== undefined, `README has a row for ${name}`);
    const cells = row.split('|').map((c) => c.trim());
    assert.ok(cells[2]!.startsWith(preset.smarthost.value), `${name}: ${cells[2]}`);
    assert.ok(cells[3]!.startsWith(preset.authMethod.value), `${name}: ${cells[3]}`);
    assert.ok(preset.limits === null ? cells[4] === 'none published' : cells[4]!.startsWith(preset.limits.value), `${name}: ${cells[4]}`);
    assert.equal(cells[5], preset.maxRecipientsPerTransaction === null ? '-' : String(preset.maxRecipientsPerTransaction.value), name);
    assert.ok(readme.includes(`checked on ${preset.smarthost.checked}`), `${name}: the README gives the check date`);
  }
});
