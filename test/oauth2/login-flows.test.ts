/**
 * The two login flows against a real OAuth2 server on 127.0.0.1
 * (test/support/oauth2-server.ts): the device grant's polling rules (RFC
 * 8628 3.5), with the wait injected so nothing sleeps; the loopback flow
 * with PKCE (the server verifies the S256 challenge) driven by following
 * the redirect as a browser would; the provider table's resolution; and
 * the gmail preset's way to Google's real endpoints (only the URL is
 * checked: nothing leaves 127.0.0.1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOAuth2Server } from '../support/oauth2-server.js';
import { runDeviceFlow, type DevicePrompt } from '../../src/oauth2/device-flow.js';
import { runLoopbackFlow, codeChallengeS256 } from '../../src/oauth2/loopback-flow.js';
import { resolveOAuth2Settings, type OAuth2Settings } from '../../src/oauth2/settings.js';
import { BulkmailerError } from '../../src/errors.js';
import { OAUTH2_PROVIDERS } from '../../src/oauth2/providers.js';
import { homeWithSpool } from '../support/spool-fixtures.js';
import { collect, runCli, spawnCli } from '../support/cli.js';
import { readOAuthToken } from '../../src/spool/index.js';

const OAUTH2_UNSET = { provider: null, clientId: null, clientSecret: null, tokenUrl: null, deviceAuthorizationUrl: null, authorizationUrl: null, scope: null };

function settingsFor(server: { tokenUrl: string; deviceAuthorizationUrl: string; authorizationUrl: string }, extra: Partial<OAuth2Settings> = {}): OAuth2Settings {
  return {
    ...resolveOAuth2Settings(
      'default',
      {
        auth: { method: 'oauth2', user: 'me@example.org' },
        oauth2: {
          ...OAUTH2_UNSET,
          clientId: 'test-client',
          tokenUrl: server.tokenUrl,
          deviceAuthorizationUrl: server.deviceAuthorizationUrl,
          authorizationUrl: server.authorizationUrl,
          scope: 'https://mail.example/',
        },
      },
      { host: '127.0.0.1', user: null },
    ),
    ...extra,
  };
}

function rejectsWith(code: string, exitCode: number) {
  return (err: unknown) => {
    assert.ok(err instanceof BulkmailerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitCode, exitCode);
    return true;
  };
}

test('device grant: announced interval, authorization_pending polls again, slow_down adds 5 s for good; the tokens come back', async (t) => {
  const verdicts = ['authorization_pending', 'authorization_pending', 'slow_down', 'authorization_pending', 'approve'] as const;
  const server = await startOAuth2Server({ deviceInterval: 2, devicePoll: (n) => verdicts[n] ?? 'approve' });
  t.after(() => server.close());
  const sleeps: number[] = [];
  const prompts: DevicePrompt[] = [];
  const tokens = await runDeviceFlow(settingsFor(server), {
    onPrompt: (p) => prompts.push(p),
    sleep: async (ms) => void sleeps.push(ms),
  });
  assert.deepEqual(sleeps, [2000, 2000, 2000, 7000, 7000]);
  assert.equal(prompts.length, 1);
  assert.equal(prompts[0]?.userCode, 'WDJB-MJHT');
  assert.match(prompts[0]?.verificationUri ?? '', /^http:\/\/127\.0\.0\.1:\d+\/device$/);
  assert.deepEqual(server.deviceRequests, [{ client_id: 'test-client', scope: 'https://mail.example/' }]);
  assert.equal(server.tokenRequests.length, 5);
  for (const r of server.tokenRequests) {
    assert.equal(r.grantType, 'urn:ietf:params:oauth:grant-type:device_code');
    assert.match(r.fields.device_code ?? '', /^dc-/);
  }
  assert.match(tokens.refreshToken ?? '', /^rt-/);
  assert.ok(server.isValid(tokens.accessToken));
  assert.equal(tokens.expiresIn, 3600);
});

test('device grant: no interval announced means 5 seconds (RFC 8628 3.2)', async (t) => {
  const server = await startOAuth2Server({ deviceInterval: undefined, devicePoll: (n) => (n === 0 ? 'authorization_pending' : 'approve') });
  t.after(() => server.close());
  const sleeps: number[] = [];
  await runDeviceFlow(settingsFor(server), { onPrompt: () => {}, sleep: async (ms) => void sleeps.push(ms) });
  assert.deepEqual(sleeps, [5000, 5000]);
});

test('device grant: access_denied, expired_token and the code\'s own lifetime end the login', async (t) => {
  const denied = await startOAuth2Server({ deviceInterval: 0, devicePoll: () => 'access_denied' });
  t.after(() => denied.close());
  await assert.rejects(runDeviceFlow(settingsFor(denied), { onPrompt: () => {}, sleep: async () => {} }), rejectsWith('E_LOGIN_DENIED', 77));

  const expired = await startOAuth2Server({ deviceInterval: 0, devicePoll: (n) => (n < 2 ? 'authorization_pending' : 'expired_token') });
  t.after(() => expired.close());
  await assert.rejects(runDeviceFlow(settingsFor(expired), { onPrompt: () => {}, sleep: async () => {} }), rejectsWith('E_LOGIN_EXPIRED', 75));
  assert.equal(expired.tokenRequests.length, 3);

  // The clock passes expires_in while the user dawdles: no further poll.
  const slow = await startOAuth2Server({ deviceInterval: 1, deviceExpiresIn: 60, devicePoll: () => 'authorization_pending' });
  t.after(() => slow.close());
  let clock = 1_000_000;
  await assert.rejects(
    runDeviceFlow(settingsFor(slow), { onPrompt: () => {}, now: () => clock, sleep: async () => void (clock += 25_000) }),
    rejectsWith('E_LOGIN_EXPIRED', 75),
  );
  assert.equal(slow.tokenRequests.length, 2, 'polled at 25 s and 50 s; at 75 s the 60-second code had expired');
});

test('device grant: a client the provider does not know is a config error naming the keys', async (t) => {
  const server = await startOAuth2Server({ clientId: 'another' });
  t.after(() => server.close());
  await assert.rejects(runDeviceFlow(settingsFor(server), { onPrompt: () => {}, sleep: async () => {} }), (err: unknown) => {
    assert.ok(err instanceof BulkmailerError);
    assert.equal(err.exitCode, 78);
    assert.match(err.message, /invalid_client.*oauth2\.clientId/);
    return true;
  });
});

/** Does what the user's browser does: visit the URL, follow the provider's redirect to our listener. */
async function browse(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { redirect: 'follow' });
  return { status: response.status, body: await response.text() };
}

test('loopback flow: 127.0.0.1 redirect, state, PKCE S256 verified by the server, the code exchanged once', async (t) => {
  const server = await startOAuth2Server({ clientSecret: 'desktop-secret' });
  t.after(() => server.close());
  let page: Promise<{ status: number; body: string }> | null = null;
  const tokens = await runLoopbackFlow(settingsFor(server, { clientSecret: 'desktop-secret', authorizationParams: { access_type: 'offline' } }), {
    onAuthorizationUrl: (url) => (page = browse(url)),
  });
  const shown = await page!;
  assert.equal(shown.status, 200);
  assert.match(shown.body, /You can close this window/);
  const [q] = server.authorizationRequests;
  assert.ok(q !== undefined);
  assert.equal(q.response_type, 'code');
  assert.equal(q.code_challenge_method, 'S256');
  assert.match(q.redirect_uri ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.match(q.state ?? '', /^[\w-]{16,}$/);
  assert.equal(q.access_type, 'offline');
  assert.equal(q.login_hint, 'me@example.org');
  assert.equal(q.scope, 'https://mail.example/');
  const exchange = server.tokenRequests.find((r) => r.grantType === 'authorization_code');
  assert.ok(exchange !== undefined);
  assert.equal(codeChallengeS256(exchange.fields.code_verifier ?? ''), q.code_challenge);
  assert.equal(exchange.fields.client_secret, 'desktop-secret');
  assert.match(tokens.refreshToken ?? '', /^rt-/);
});

test('loopback flow: a redirect with another state is refused (400) and the login goes on; access_denied ends it', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  let forged: { status: number } | null = null;
  const tokens = await runLoopbackFlow(settingsFor(server), {
    onAuthorizationUrl: (url) => {
      const redirectUri = new URL(url).searchParams.get('redirect_uri')!;
      void (async () => {
        forged = await browse(`${redirectUri}?code=stolen&state=not-ours`);
        await browse(url);
      })();
    },
  });
  assert.equal(forged!.status, 400);
  assert.ok(server.isValid(tokens.accessToken));
  assert.equal(server.tokenRequests.filter((r) => r.fields.code === 'stolen').length, 0);

  const denying = await startOAuth2Server({ denyAuthorization: true });
  t.after(() => denying.close());
  await assert.rejects(
    runLoopbackFlow(settingsFor(denying), { onAuthorizationUrl: (url) => void browse(url) }),
    rejectsWith('E_LOGIN_DENIED', 77),
  );
  assert.equal(denying.tokenRequests.length, 0);
});

test('loopback flow: no browser comes back within the wait: E_LOGIN_EXPIRED and the port is closed', async (t) => {
  const server = await startOAuth2Server();
  t.after(() => server.close());
  let redirectUri = '';
  await assert.rejects(
    runLoopbackFlow(settingsFor(server), { waitMs: 50, onAuthorizationUrl: (url) => (redirectUri = new URL(url).searchParams.get('redirect_uri')!) }),
    rejectsWith('E_LOGIN_EXPIRED', 75),
  );
  await assert.rejects(fetch(redirectUri), 'the listener is gone');
});

test('settings: the provider table by name or by smarthost host; https only except loopback; a missing client id names its key', () => {
  const base = { auth: { method: 'oauth2', user: null } };
  const google = resolveOAuth2Settings('default', { ...base, oauth2: { ...OAUTH2_UNSET, clientId: 'id' } }, { host: 'smtp.gmail.com', user: 'me@gmail.com' });
  assert.equal(google.provider, OAUTH2_PROVIDERS.google);
  assert.equal(google.tokenUrl, 'https://oauth2.googleapis.com/token');
  assert.equal(google.authorizationUrl, 'https://accounts.google.com/o/oauth2/v2/auth');
  assert.equal(google.scope, 'https://mail.google.com/');
  assert.equal(google.defaultFlow, 'loopback');
  assert.equal(google.user, 'me@gmail.com');
  const microsoft = resolveOAuth2Settings('work', { ...base, oauth2: { ...OAUTH2_UNSET, provider: 'microsoft', clientId: 'id' } }, { host: 'mail.example.net', user: null });
  assert.equal(microsoft.tokenUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/token');
  assert.equal(microsoft.deviceAuthorizationUrl, 'https://login.microsoftonline.com/common/oauth2/v2.0/devicecode');
  assert.equal(microsoft.scope, 'https://outlook.office.com/SMTP.Send offline_access');
  assert.equal(microsoft.defaultFlow, 'device');
  assert.equal(microsoft.scopeOnRefresh, true);

  assert.throws(
    () => resolveOAuth2Settings('work', { ...base, oauth2: OAUTH2_UNSET }, { host: 'smtp.gmail.com', user: null }),
    (err: BulkmailerError) => err.exitCode === 78 && /accounts\.work\.oauth2\.clientId is not set/.test(err.message),
  );
  assert.throws(
    () => resolveOAuth2Settings('default', { ...base, oauth2: { ...OAUTH2_UNSET, clientId: 'id' } }, { host: 'mail.example.net', user: null }),
    (err: BulkmailerError) => err.exitCode === 78 && /set oauth2\.provider/.test(err.message),
  );
  assert.throws(
    () =>
      resolveOAuth2Settings('default', { ...base, oauth2: { ...OAUTH2_UNSET, provider: 'google', clientId: 'id', tokenUrl: 'http://auth.example.net/token' } }, null),
    (err: BulkmailerError) => err.exitCode === 78 && /oauth2\.tokenUrl: http:\/\/ to auth\.example\.net would send secrets in clear/.test(err.message),
  );
  const local = resolveOAuth2Settings('default', { ...base, oauth2: { ...OAUTH2_UNSET, provider: 'google', clientId: 'id', tokenUrl: 'http://127.0.0.1:8080/token' } }, null);
  assert.equal(local.tokenUrl, 'http://127.0.0.1:8080/token');
});

test('the gmail preset leads to Google\'s endpoints: `account login` (loopback, Google\'s default) sends the browser to accounts.google.com with the Gmail scope, offline access and PKCE; nothing is stored until it comes back', async (t) => {
  const { home, spool } = await homeWithSpool(t);
  const add = await runCli(['account', 'add', 'g', '--preset', 'gmail', '--senders', '@gmail.example'], { home });
  assert.equal(add.code, 0, add.stderr);
  for (const [key, value] of [['accounts.g.oauth2.clientId', 'id-123.apps.googleusercontent.com'], ['accounts.g.auth.user', 'me@gmail.example']] as const) {
    const set = await runCli(['config', 'set', key, value], { home });
    assert.equal(set.code, 0, set.stderr);
  }
  // The loopback flow contacts nothing until the browser comes back: safe to start here, then stop.
  const child = spawnCli(['account', 'login', 'g', '--no-browser'], { home });
  const done = collect(child);
  let printed = '';
  const url = await new Promise<URL>((resolve) => {
    child.stdout!.on('data', (d: Buffer) => {
      printed += d.toString();
      const match = /^(https:\/\/\S+)$/m.exec(printed);
      if (match) resolve(new URL(match[1]!));
    });
  });
  child.kill('SIGTERM');
  await done;
  assert.equal(`${url.origin}${url.pathname}`, 'https://accounts.google.com/o/oauth2/v2/auth');
  const q = url.searchParams;
  assert.equal(q.get('client_id'), 'id-123.apps.googleusercontent.com');
  assert.equal(q.get('scope'), 'https://mail.google.com/');
  assert.equal(q.get('access_type'), 'offline');
  assert.equal(q.get('prompt'), 'consent');
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.equal(q.get('login_hint'), 'me@gmail.example');
  assert.match(q.get('redirect_uri') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(readOAuthToken(spool, 'g'), null);
});
