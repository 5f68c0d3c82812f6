/**
 * Access tokens through the token store, against a real OAuth2 server on
 * 127.0.0.1: the stored token while it has the margin to live, a refresh
 * before expiry (the clock is injected), one refresh shared by concurrent
 * sessions that all heard "expired", a rotated refresh token kept durably,
 * a revoked refresh token read as "needs login", an unreachable endpoint
 * as temporary. The stored file is 0600 and no error carries a token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startOAuth2Server, type OAuth2TestServer } from '../support/oauth2-server.js';
import { homeWithSpool } from '../support/spool-fixtures.js';
import { AccessTokens, REFRESH_MARGIN_MS, loginRecord } from '../../src/oauth2/access-tokens.js';
import { resolveOAuth2Settings, type OAuth2Settings } from '../../src/oauth2/settings.js';
import { readOAuthToken, writeOAuthToken, type Spool } from '../../src/spool/index.js';
import { BulkmailerError } from '../../src/errors.js';

function settingsFor(server: { tokenUrl: string }): OAuth2Settings {
  return resolveOAuth2Settings(
    'default',
    {
      auth: { method: 'oauth2', user: 'me@example.org' },
      oauth2: { provider: null, clientId: 'test-client', clientSecret: null, tokenUrl: server.tokenUrl, deviceAuthorizationUrl: null, authorizationUrl: null, scope: 'https://mail.example/' },
    },
    null,
  );
}

/** A finished login: the server's tokens in the store, as `account login` leaves them. */
async function loggedIn(spool: Spool, server: OAuth2TestServer, now: number): Promise<{ refreshToken: string; accessToken: string }> {
  const issued = server.issue();
  await writeOAuthToken(spool, loginRecord(settingsFor(server), { ...issued, scope: null }, now));
  return issued;
}

test('the stored token is used while it has the margin to live, refreshed before expiry, and the new one stored 0600', async (t) => {
  const server = await startOAuth2Server({ accessTokenLifetime: 3600 });
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  let clock = Date.parse('2026-11-30T12:00:00Z');
  const first = await loggedIn(spool, server, clock);
  const file = path.join(spool.root, 'accounts', 'default.token.json');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  const tokens = new AccessTokens(spool, settingsFor(server), () => clock);
  assert.deepEqual(await tokens.current(), { token: first.accessToken, refreshed: false });
  clock += 3600_000 - REFRESH_MARGIN_MS - 1000; // still just inside the margin
  assert.deepEqual(await tokens.current(), { token: first.accessToken, refreshed: false });
  assert.equal(server.refreshCount(), 0);

  clock += 2000; // within the margin of expiry: refresh before the smarthost could refuse it
  const second = await tokens.current();
  assert.equal(second.refreshed, true);
  assert.notEqual(second.token, first.accessToken);
  assert.ok(server.isValid(second.token));
  assert.equal(server.refreshCount(), 1);
  const request = server.tokenRequests.at(-1);
  assert.deepEqual(request?.fields, { client_id: 'test-client', grant_type: 'refresh_token', refresh_token: first.refreshToken });

  const stored = readOAuthToken(spool, 'default');
  assert.equal(stored?.accessToken, second.token);
  assert.equal(stored?.refreshToken, first.refreshToken);
  assert.equal(stored?.expiresAt, new Date(clock + 3600_000).toISOString());
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  // Another process (a later flush) starts from the store: no refresh.
  const later = new AccessTokens(spool, settingsFor(server), () => clock);
  assert.deepEqual(await later.current(), { token: second.token, refreshed: false });
  assert.equal(server.refreshCount(), 1);
});

test('five sessions told "token expired" at once share one refresh; a renew of an already replaced token asks nobody', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  const first = await loggedIn(spool, server, Date.now());
  const tokens = new AccessTokens(spool, settingsFor(server));
  assert.equal((await tokens.current()).token, first.accessToken);
  server.expireAccessTokens();
  const renewed = await Promise.all(Array.from({ length: 5 }, () => tokens.renew(first.accessToken)));
  assert.equal(new Set(renewed).size, 1);
  assert.ok(server.isValid(renewed[0]!));
  assert.equal(server.refreshCount(), 1);
  assert.equal(await tokens.renew(first.accessToken), renewed[0]);
  assert.equal(server.refreshCount(), 1);
  // A second process that still holds the old token in memory finds the new one in the store.
  const other = new AccessTokens(spool, settingsFor(server));
  assert.equal(await other.renew(first.accessToken), renewed[0]);
  assert.equal(server.refreshCount(), 1);
});

test('a rotated refresh token replaces the old one in the store (the old one no longer works)', async (t) => {
  const server = await startOAuth2Server({ rotateRefreshTokens: true });
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  const first = await loggedIn(spool, server, Date.now());
  const tokens = new AccessTokens(spool, settingsFor(server));
  await tokens.renew(first.accessToken);
  const stored = readOAuthToken(spool, 'default');
  assert.notEqual(stored?.refreshToken, first.refreshToken);
  const again = new AccessTokens(spool, settingsFor(server));
  server.expireAccessTokens();
  assert.ok(server.isValid(await again.renew(stored!.accessToken!)));
  assert.equal(server.refreshCount(), 2);
});

test('revoked refresh token: E_AUTH "needs `bulkmailer account login default`"; no token: the same; secrets never in the message', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  const tokens = new AccessTokens(spool, settingsFor(server));
  await assert.rejects(tokens.current(), (err: BulkmailerError) => {
    assert.equal(err.code, 'E_AUTH');
    assert.equal(err.temporary, false);
    assert.match(err.message, /^account default needs `bulkmailer account login default`: no OAuth2 token is stored/);
    return true;
  });
  const issued = await loggedIn(spool, server, Date.now() - 7200_000); // its access token expired an hour ago
  server.revokeRefreshTokens();
  await assert.rejects(tokens.current(), (err: BulkmailerError) => {
    assert.equal(err.code, 'E_AUTH');
    assert.equal(err.exitCode, 77);
    assert.match(err.message, /needs `bulkmailer account login default`: the token endpoint refused the refresh token \(invalid_grant: Token has been expired or revoked\.\)/);
    assert.ok(!err.message.includes(issued.refreshToken) && !err.message.includes(issued.accessToken));
    return true;
  });
});

test('a token endpoint that is down is temporary (E_UNREACHABLE), like a smarthost that is', async (t) => {
  const server = await startOAuth2Server();
  const { spool } = await homeWithSpool(t);
  const first = await loggedIn(spool, server, Date.now());
  await server.close();
  const tokens = new AccessTokens(spool, settingsFor(server));
  await assert.rejects(tokens.renew(first.accessToken), (err: BulkmailerError) => {
    assert.equal(err.code, 'E_UNREACHABLE');
    assert.equal(err.exitCode, 75);
    assert.match(err.message, /cannot refresh its OAuth2 access token: cannot get an answer from the OAuth2 endpoint http:\/\/127\.0\.0\.1:\d+\/token: ECONNREFUSED/);
    return true;
  });
  assert.equal(readOAuthToken(spool, 'default')?.refreshToken, first.refreshToken, 'the stored token is untouched');
});

test('a token issued to another client id is not used: needs login', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  await loggedIn(spool, server, Date.now());
  const tokens = new AccessTokens(spool, { ...settingsFor(server), clientId: 'new-client' });
  await assert.rejects(tokens.current(), /needs `bulkmailer account login default`: the stored token belongs to another OAuth2 client/);
  assert.equal(server.tokenRequests.length, 0);
});

test('Microsoft wants the scope again on refresh: the configured one (with offline_access), not the narrower one granted; Google gets none', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  const microsoft: OAuth2Settings = { ...settingsFor(server), scope: 'https://outlook.office.com/SMTP.Send offline_access', scopeOnRefresh: true };
  const issued = server.issue();
  await writeOAuthToken(spool, loginRecord(microsoft, { ...issued, scope: 'https://outlook.office.com/SMTP.Send' }, Date.now()));
  await new AccessTokens(spool, microsoft).renew(issued.accessToken);
  assert.equal(server.tokenRequests.at(-1)?.fields.scope, 'https://outlook.office.com/SMTP.Send offline_access');
  await new AccessTokens(spool, { ...microsoft, scopeOnRefresh: false }).renew(readOAuthToken(spool, 'default')!.accessToken!);
  assert.equal(server.tokenRequests.at(-1)?.fields.scope, undefined);
});

test('two processes refreshing at once with a rotating provider: one refresh, the other takes the stored token (no invalid_grant)', async (t) => {
  const server = await startOAuth2Server({ rotateRefreshTokens: true });
  t.after(() => server.close());
  const { spool } = await homeWithSpool(t);
  const first = await loggedIn(spool, server, Date.now());
  server.expireAccessTokens();
  // Two AccessTokens over one spool: what a flush and a doctor running side by side have.
  const a = new AccessTokens(spool, settingsFor(server));
  const b = new AccessTokens(spool, settingsFor(server));
  const [ta, tb] = await Promise.all([a.renew(first.accessToken), b.renew(first.accessToken)]);
  assert.equal(ta, tb);
  assert.ok(server.isValid(ta));
  assert.equal(server.refreshCount(), 1);
  assert.equal(server.tokenRequests.length, 1, 'the second never sent the old refresh token');
  assert.ok(!fs.existsSync(path.join(spool.lock, 'token-default')), 'the refresh lock is released');
});
