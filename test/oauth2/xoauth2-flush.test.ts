/**
 * XOAUTH2 end to end, black-box: real `bulkmailer` processes against a real
 * smarthost on 127.0.0.1 that accepts only an access token the local OAuth2
 * server (test/support/oauth2-server.ts) currently holds valid. Tokens
 * expire mid-flush (refused with Google's 334 dance, or Microsoft's plain
 * 535) and are refreshed once for all sessions, with every message
 * delivered once and nothing failed; a stale stored token is refreshed
 * before any AUTH; a revoked refresh token holds the account until
 * `account login`, which status and doctor say; secrets appear nowhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { SMTPServerSession } from 'smtp-server';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { startOAuth2Server, type OAuth2TestServer } from '../support/oauth2-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, queuePosts } from '../support/spool-fixtures.js';
import { runCli, spawnCli, collect } from '../support/cli.js';
import { listStateFileIdsIncludingFinished, readAccountHold, readEntryState, readOAuthToken, writeOAuthToken, type Spool } from '../../src/spool/index.js';
import { loginRecord } from '../../src/oauth2/access-tokens.js';
import { resolveOAuth2Settings } from '../../src/oauth2/settings.js';

const USER = 'me@example.org';
const CLIENT_SECRET = 'client-secret-7f3a';

interface AuthedUser {
  name: string;
  token: string;
}

/** A smarthost that takes XOAUTH2 only, and only a token the OAuth2 server holds valid. */
async function xoauth2Smarthost(
  oauth: OAuth2TestServer,
  style: 'google' | 'microsoft',
  extra: { expireAfter?: number } = {},
): Promise<CaptureServer & { authTokens: string[]; refusedTokens: string[] }> {
  const authTokens: string[] = [];
  const refusedTokens: string[] = [];
  const server = await startCaptureServer({
    dataReply: (n) => {
      // The provider's clock passes the tokens' expiry after this many messages.
      if (extra.expireAfter !== undefined && n === extra.expireAfter - 1) oauth.expireAccessTokens();
      return null;
    },
    // A session whose token has expired is ended after its transaction, as providers end sessions.
    endAfter: (session: SMTPServerSession) => !oauth.isValid((session.user as unknown as AuthedUser).token),
    server: {
      authOptional: false,
      authMethods: ['XOAUTH2'],
      onAuth(auth, _session, callback) {
        authTokens.push(auth.accessToken ?? '');
        if (auth.method === 'XOAUTH2' && auth.username === USER && oauth.isValid(auth.accessToken ?? '')) {
          return callback(null, { user: { name: USER, token: auth.accessToken } as never });
        }
        refusedTokens.push(auth.accessToken ?? '');
        if (style === 'google') {
          // 334 eyJzdGF0dXMiOiI0MDEi... then 535 5.7.8 after the client's empty line
          return callback(null, { data: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' } });
        }
        return callback(Object.assign(new Error('5.7.3 Authentication unsuccessful'), { responseCode: 535 }));
      },
    },
  });
  return Object.assign(server, { authTokens, refusedTokens });
}

function oauthConfig(smtp: CaptureServer, oauth: OAuth2TestServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    smarthost: smtp.url,
    concurrency: 4,
    auth: { method: 'oauth2', user: USER },
    oauth2: {
      clientId: 'test-client',
      clientSecret: CLIENT_SECRET,
      tokenUrl: oauth.tokenUrl,
      deviceAuthorizationUrl: oauth.deviceAuthorizationUrl,
      authorizationUrl: oauth.authorizationUrl,
      scope: 'https://mail.example/',
    },
    ...extra,
  };
}

/** What `account login` leaves behind, for tests about what comes after it. */
async function storeLogin(spool: Spool, oauth: OAuth2TestServer, loggedInAt = Date.now()): Promise<{ refreshToken: string; accessToken: string }> {
  const issued = oauth.issue();
  const settings = resolveOAuth2Settings(
    'default',
    { auth: { method: 'oauth2', user: USER }, oauth2: { provider: null, clientId: 'test-client', clientSecret: CLIENT_SECRET, tokenUrl: oauth.tokenUrl, deviceAuthorizationUrl: null, authorizationUrl: null, scope: 'https://mail.example/' } },
    null,
  );
  await writeOAuthToken(spool, loginRecord(settings, { ...issued, scope: null }, loggedInAt));
  return issued;
}

function assertDeliveredOnce(smtp: CaptureServer, count: number): void {
  assert.equal(smtp.messages.length, count);
  const byRecipient = smtp.deliveriesByRecipient();
  assert.equal(byRecipient.size, count);
  for (const [address, times] of byRecipient) assert.equal(times, 1, address);
}

for (const style of ['google', 'microsoft'] as const) {
  test(`tokens expire mid-flush (${style === 'google' ? '334 + 535' : 'plain 535'}): one refresh for all sessions, every message delivered once, nothing failed`, async (t) => {
    const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET });
    t.after(() => oauth.close());
    const smtp = await xoauth2Smarthost(oauth, style, { expireAfter: 10 });
    t.after(() => smtp.close());
    const { home, spool } = await homeWithSpool(t);
    await writeConfig(home, oauthConfig(smtp, oauth));
    const first = await storeLogin(spool, oauth);
    await queuePosts(spool, 40);

    const flush = await runCli(['flush'], { home });
    assert.equal(flush.code, 0, flush.stderr);
    assert.match(flush.stdout, /40 sent, 0 deferred, 0 failed/);
    assertDeliveredOnce(smtp, 40);
    assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
    assert.equal(oauth.refreshCount(), 1, 'the sessions shared one refresh');
    // Sessions authenticated with it, and once it expired mid-flush, a session that came back with
    // it was refused (how many sessions opened before the expiry depends on timing; that one did not).
    assert.ok(smtp.authTokens.includes(first.accessToken));
    assert.ok(smtp.refusedTokens.length >= 1, 'the expired token was refused at least once');
    assert.ok(smtp.refusedTokens.every((token) => token === first.accessToken), 'only the expired token was ever refused');
    const stored = readOAuthToken(spool, 'default');
    assert.notEqual(stored?.accessToken, first.accessToken);
    assert.ok(oauth.isValid(stored!.accessToken!), 'the refreshed token is stored for the next flush');
    assert.ok(smtp.authTokens.filter((token) => token === stored!.accessToken).length >= 1);
    const log = fs.readFileSync(path.join(home, 'log', 'deliveries.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { status: string });
    assert.equal(log.length, 40);
    assert.ok(log.every((r) => r.status === 'sent'));
    const logText = fs.readFileSync(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
    for (const secret of [first.refreshToken, first.accessToken, stored!.accessToken!, CLIENT_SECRET]) {
      assert.ok(!(flush.stdout + flush.stderr).includes(secret), 'no secret in the output');
      assert.ok(!logText.includes(secret), 'no secret in the delivery log');
    }
  });
}

test('a stored access token near its expiry is refreshed before any AUTH; the next flush uses the new one without a refresh', async (t) => {
  const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET });
  t.after(() => oauth.close());
  const smtp = await xoauth2Smarthost(oauth, 'google');
  t.after(() => smtp.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, oauthConfig(smtp, oauth, { concurrency: 2 }));
  // Logged in 58 minutes ago: the hour-long token has less than the margin left (the server would still take it).
  const first = await storeLogin(spool, oauth, Date.now() - 58 * 60_000);
  await queuePosts(spool, 4);
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 0, flush.stderr);
  assertDeliveredOnce(smtp, 4);
  assert.equal(oauth.refreshCount(), 1);
  assert.ok(!smtp.authTokens.includes(first.accessToken), 'the old token never went to the smarthost');
  await queuePosts(spool, 2, (i) => [`late${i}@example.net`]);
  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(smtp.messages.length, 6);
  assert.equal(oauth.refreshCount(), 1, 'the stored token was still good');
});

test('revoked refresh token: the account is held, "needs `bulkmailer account login default`" in flush, status and doctor; a login lifts it and the mail goes', async (t) => {
  const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET, deviceInterval: 0, devicePoll: (n) => (n === 0 ? 'authorization_pending' : 'approve') });
  t.after(() => oauth.close());
  const smtp = await xoauth2Smarthost(oauth, 'google');
  t.after(() => smtp.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, oauthConfig(smtp, oauth));
  const first = await storeLogin(spool, oauth);
  await queuePosts(spool, 6);
  oauth.expireAccessTokens();
  oauth.revokeRefreshTokens();

  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 77, flush.stderr);
  assert.match(flush.stderr, /account default held: .*needs `bulkmailer account login default`.*invalid_grant/);
  assert.equal(smtp.messages.length, 0);
  const ids = await listStateFileIdsIncludingFinished(spool);
  assert.equal(ids.length, 6);
  for (const id of ids) {
    const state = await readEntryState(spool, id);
    for (const r of state!.recipients) assert.deepEqual([r.status, r.attempts, r.lastReply], ['pending', 0, null], 'nothing counted');
  }
  assert.equal(readAccountHold(spool, 'default')?.kind, 'auth');

  const status = await runCli(['status'], { home });
  assert.equal(status.code, 0);
  assert.match(status.stdout, /^account default held: .*needs `bulkmailer account login default`/m);
  const doctor = await runCli(['doctor', '--json'], { home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
  const checks = (JSON.parse(doctor.stdout) as { checks: { id: string; status: string; detail: string; fix?: string }[] }).checks;
  const hold = checks.find((c) => c.id === 'account.hold');
  assert.equal(hold?.status, 'fail');
  assert.match(hold?.detail ?? '', /needs `bulkmailer account login default`/);
  const oauthCheck = checks.find((c) => c.id === 'smarthost.auth');
  assert.equal(oauthCheck?.status, 'fail');
  assert.match(oauthCheck?.detail ?? '', /needs `bulkmailer account login default`/);

  // The user logs in again (device grant), which lifts the hold; the next flush delivers everything once.
  const login = await runCli(['account', 'login', 'default', '--flow', 'device'], { home });
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /open http:\/\/127\.0\.0\.1:\d+\/device\nand enter the code WDJB-MJHT/);
  assert.match(login.stdout, /The hold of account default is lifted/);
  assert.equal(readAccountHold(spool, 'default'), null);
  const after = await runCli(['flush'], { home });
  assert.equal(after.code, 0, after.stderr);
  assertDeliveredOnce(smtp, 6);

  const everything = [flush, status, doctor, login, after].map((r) => r.stdout + r.stderr).join('\n');
  const stored = readOAuthToken(spool, 'default')!;
  for (const secret of [first.refreshToken, first.accessToken, stored.refreshToken, stored.accessToken!, CLIENT_SECRET]) {
    assert.ok(!everything.includes(secret), 'no token or client secret in any output');
  }
});

test('account login: device and loopback flows store the refresh token 0600; config list and the token file hide what they must', async (t) => {
  const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET, deviceInterval: 0 });
  t.after(() => oauth.close());
  const { home, spool } = await homeWithSpool(t);
  const smtp = await xoauth2Smarthost(oauth, 'microsoft');
  t.after(() => smtp.close());
  await writeConfig(home, oauthConfig(smtp, oauth));

  const device = await runCli(['account', 'login', 'default', '--flow', 'device'], { home });
  assert.equal(device.code, 0, device.stderr);
  assert.match(device.stdout, /Logged in: account default sends with XOAUTH2/);
  const file = path.join(home, 'spool', 'accounts', 'default.token.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const afterDevice = readOAuthToken(spool, 'default')!;
  assert.ok(oauth.isValid(afterDevice.accessToken!));

  // Loopback: read the address the command prints, and be the browser.
  const child = spawnCli(['account', 'login', 'default', '--flow', 'loopback'], { home });
  const done = collect(child);
  let printed = '';
  const url = await new Promise<string>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      printed += d.toString();
      const match = /^(http:\/\/127\.0\.0\.1:\d+\/authorize\?\S+)$/m.exec(printed);
      if (match) resolve(match[1]!);
    });
  });
  const page = await fetch(url, { redirect: 'follow' });
  assert.equal(page.status, 200);
  const loopback = await done;
  assert.equal(loopback.code, 0, loopback.stderr);
  const afterLoopback = readOAuthToken(spool, 'default')!;
  assert.notEqual(afterLoopback.refreshToken, afterDevice.refreshToken);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const exchange = oauth.tokenRequests.find((r) => r.grantType === 'authorization_code');
  assert.equal(exchange?.fields.client_secret, CLIENT_SECRET);
  assert.match(exchange?.fields.code_verifier ?? '', /^[\w-]{43}$/);

  const doctor = await runCli(['doctor', '--json'], { home, env: { BULKMAILER_DOCTOR_SKIP_AUTOSTART: '1' } });
  const auth = (JSON.parse(doctor.stdout) as { checks: { id: string; status: string; detail: string }[] }).checks.find((c) => c.id === 'smarthost.auth');
  assert.equal(auth?.status, 'pass', auth?.detail);
  assert.match(auth?.detail ?? '', /authenticated as me@example\.org with XOAUTH2 \(no mail sent\)/);
  assert.equal(smtp.messages.length, 0);

  const list = await runCli(['config', 'list'], { home });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^oauth2\.clientSecret = \(set, hidden\)$/m);
  assert.match(list.stdout, /^auth\.method = oauth2$/m);
  const get = await runCli(['config', 'get', 'oauth2.clientSecret'], { home });
  assert.equal(get.stdout.trim(), '(set, hidden)');
  const outputs = [device, loopback, doctor, list, get].map((r) => r.stdout + r.stderr).join('\n');
  for (const secret of [afterDevice.refreshToken, afterDevice.accessToken!, afterLoopback.refreshToken, afterLoopback.accessToken!, CLIENT_SECRET]) {
    assert.ok(!outputs.includes(secret), 'no secret printed');
  }
});

test('account login refuses clearly: a password account (78, names auth.method), a token endpoint over http to a non-loopback host (78), an unknown account (64)', async (t) => {
  const { home } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: 'smtp://127.0.0.1:2525' });
  const password = await runCli(['account', 'login', 'default'], { home });
  assert.equal(password.code, 78);
  assert.match(password.stderr, /bulkmailer config set auth\.method oauth2/);
  const set = await runCli(['config', 'set', 'oauth2.tokenUrl', 'http://auth.example.net/token'], { home });
  assert.equal(set.code, 78);
  assert.match(set.stderr, /would send secrets in clear; use https:\/\//);
  const unknown = await runCli(['account', 'login', 'nosuch'], { home });
  assert.equal(unknown.code, 64);
  assert.match(unknown.stderr, /no account named nosuch; `bulkmailer account list` lists them/);
});

test('a token endpoint that cannot be reached is like being offline: exit 75, nothing counted, no hold, the stored token kept', async (t) => {
  const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET });
  t.after(() => oauth.close());
  const smtp = await xoauth2Smarthost(oauth, 'google');
  t.after(() => smtp.close());
  const { home, spool } = await homeWithSpool(t);
  // An endpoint on a port nothing listens on (the real one's URL is kept for later).
  const dead = await startOAuth2Server();
  const deadUrl = dead.tokenUrl;
  await dead.close();
  await writeConfig(home, oauthConfig(smtp, oauth, { oauth2: { ...(oauthConfig(smtp, oauth).oauth2 as object), tokenUrl: deadUrl } }));
  const settings = resolveOAuth2Settings(
    'default',
    { auth: { method: 'oauth2', user: USER }, oauth2: { provider: null, clientId: 'test-client', clientSecret: CLIENT_SECRET, tokenUrl: deadUrl, deviceAuthorizationUrl: null, authorizationUrl: null, scope: 'https://mail.example/' } },
    null,
  );
  const issued = oauth.issue();
  // Logged in two hours ago: the access token is stale, a refresh is needed before any AUTH.
  await writeOAuthToken(spool, loginRecord(settings, { ...issued, scope: null }, Date.now() - 2 * 3600_000));
  await queuePosts(spool, 3);

  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 75, flush.stderr);
  assert.match(flush.stderr, /cannot refresh its OAuth2 access token: cannot get an answer from the OAuth2 endpoint http:\/\/127\.0\.0\.1:\d+\/token: ECONNREFUSED/);
  assert.equal(smtp.messages.length, 0);
  assert.equal(readAccountHold(spool, 'default'), null, 'no hold: waiting for the network is not the user\'s to fix');
  for (const id of await listStateFileIdsIncludingFinished(spool)) {
    const state = await readEntryState(spool, id);
    for (const r of state!.recipients) assert.deepEqual([r.status, r.attempts], ['pending', 0]);
  }
  assert.equal(readOAuthToken(spool, 'default')?.refreshToken, issued.refreshToken);
});

test('a named account with OAuth2: `account login work` stores work\'s token; its mail goes with XOAUTH2, a revoked token holds only its mail', async (t) => {
  const oauth = await startOAuth2Server({ clientSecret: CLIENT_SECRET, deviceInterval: 0 });
  t.after(() => oauth.close());
  const work = await xoauth2Smarthost(oauth, 'microsoft');
  t.after(() => work.close());
  const plain = await startCaptureServer();
  t.after(() => plain.close());
  const { home, spool } = await homeWithSpool(t);
  const { smarthost: _ignored, concurrency: _c, ...oauthSettings } = oauthConfig(work, oauth);
  await writeConfig(home, { smarthost: plain.url, accounts: { work: { smarthost: work.url, senders: ['@work.example'], ...oauthSettings } } });

  const before = await runCli(['account', 'show', 'work'], { home });
  assert.match(before.stdout, /^ {2}auth: oauth2 \(XOAUTH2\), not logged in: run `bulkmailer account login work`$/m);
  const login = await runCli(['account', 'login', 'work', '--flow', 'device'], { home });
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stdout, /Logged in: account work sends with XOAUTH2/);
  const after = await runCli(['account', 'show', 'work'], { home });
  assert.match(after.stdout, /^ {2}auth: oauth2 \(XOAUTH2\), logged in \d{4}-\d\d-\d\dT[\d:.]+Z \(token stored private\)$/m);
  const token = readOAuthToken(spool, 'work')!;
  assert.ok(!after.stdout.includes(token.refreshToken) && !after.stdout.includes(token.accessToken!));
  assert.equal(fs.statSync(path.join(home, 'spool', 'accounts', 'work.token.json')).mode & 0o777, 0o600);
  assert.equal(readOAuthToken(spool, 'default'), null);

  const { enqueueMessage } = await import('../../src/spool/index.js');
  const queue = async (from: string, to: string) =>
    enqueueMessage(spool, { from, recipients: [to], message: `From: ${from}\r\nTo: ${to}\r\nSubject: hi\r\n\r\nHello.\r\n` });
  await queue('boss@work.example', 'a@example.net');
  await queue('me@home.example', 'b@example.net');
  const flush = await runCli(['flush'], { home });
  assert.equal(flush.code, 0, flush.stderr);
  assert.deepEqual(work.messages.map((m) => m.to), [['a@example.net']]);
  assert.deepEqual(plain.messages.map((m) => m.to), [['b@example.net']]);
  assert.ok(oauth.isValid(work.authTokens.at(-1)!));

  // Revoked: only work's mail waits, and says what to do.
  oauth.expireAccessTokens();
  oauth.revokeRefreshTokens();
  await queue('boss@work.example', 'c@example.net');
  await queue('me@home.example', 'd@example.net');
  const held = await runCli(['flush'], { home });
  assert.equal(held.code, 77, held.stderr);
  assert.deepEqual(plain.messages.map((m) => m.to), [['b@example.net'], ['d@example.net']]);
  assert.equal(work.messages.length, 1);
  assert.equal(readAccountHold(spool, 'work')?.kind, 'auth');
  assert.equal(readAccountHold(spool, 'default'), null);
  const status = await runCli(['status'], { home });
  assert.match(status.stdout, /^account work held: .*needs `bulkmailer account login work`/m);
});
