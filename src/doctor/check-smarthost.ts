/**
 * Doctor: one smarthost, step by step, each step only if the one before
 * passed: the name resolves; a TCP (or TLS, for smtps) connection gets a
 * 220 greeting; TLS is in use (STARTTLS offered and negotiated, or smtps)
 * and the certificate verifies under tls.verify / tls.caFile; the
 * credentials are accepted (AUTH, then QUIT: no MAIL command, no mail).
 *
 * The session is opened by delivery's own code (createSmtpConnection and
 * connectSmtp in src/delivery/smtp-session.ts): same TLS options, and
 * STARTTLS required when credentials would otherwise cross the network in
 * clear. The password is
 * resolved as delivery resolves it (passwordCommand, passwordEnv, pass,
 * URL) and never appears in a result: server replies are redacted too. An
 * OAuth2 account (auth.method oauth2) authenticates with XOAUTH2 and its
 * stored token, refreshed as a flush would; a revoked one says "needs
 * `bulkmailer account login NAME`".
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import type tls from 'node:tls';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { CERT_ERROR, connectSmtp, createSmtpConnection, sessionOptionsFor } from '../delivery/smtp-session.js';
import type { Credentials } from '../config/credentials.js';
import { resolveAccountCredentials } from '../oauth2/account-credentials.js';
import type { OAuth2Credentials } from '../oauth2/access-tokens.js';
import { loginXOAuth2 } from '../delivery/xoauth2-login.js';
import { spoolLayout } from '../spool/index.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { DEFAULT_ACCOUNT, resolveAccount, type AccountSettings } from '../config/accounts.js';
import type { Smarthost } from '../config/smarthost.js';
import { probeSmarthost } from '../connectivity/probe-smarthost.js';
import { fail, pass, redactSecrets, skip, warn, type CheckResult } from './check.js';
import { plural } from '../text.js';

export interface SmarthostCheck {
  results: CheckResult[];
  /** The 220 greeting, when one came (for the clock check). */
  greeting: string | null;
  reachable: boolean;
}

interface SmtpErrorLike extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
}

const SOCKET_TIMEOUT_MS = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function checkResolve(smarthost: Smarthost, timeoutMs: number): Promise<CheckResult> {
  const id = 'smarthost.resolve';
  const title = `${smarthost.display}: host name resolves`;
  if (net.isIP(smarthost.host)) return pass(id, title, `${smarthost.host} is an IP address`);
  try {
    const addresses = await withTimeout(dns.lookup(smarthost.host, { all: true }), timeoutMs, 'DNS lookup');
    return pass(id, title, `${smarthost.host} -> ${addresses.map((a) => a.address).join(', ')}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return fail(id, title, `cannot resolve ${smarthost.host} (${code})`, `check the host name in the smarthost URL; check DNS and the network (\`bulkmailer probe\`)`);
  }
}

function reachFix(smarthost: Smarthost, error: string): string {
  if (/ECONNREFUSED/.test(error)) {
    return `nothing listens on ${smarthost.host}:${smarthost.port}: check the port (587 for STARTTLS, 465 for smtps://) and that the server runs`;
  }
  if (/no greeting within|ETIMEDOUT/.test(error)) {
    return `a firewall may drop port ${smarthost.port}; try the provider's other submission port (587 or 465), or check the network`;
  }
  if (/refuses sessions/.test(error)) return 'the server refuses this client: ask its administrator (IP allow-list, rate limit)';
  return 'check the network and the smarthost URL (`bulkmailer probe` shows every connectivity check)';
}

interface Session {
  connection: SMTPConnection;
  /** TLS is in use (smtps, or STARTTLS negotiated). */
  secure: boolean;
}

async function openSession(
  config: RuntimeConfig,
  account: AccountSettings,
  smarthost: Smarthost,
  credentials: Credentials | OAuth2Credentials | null,
): Promise<Session> {
  const connection = createSmtpConnection(sessionOptionsFor(config, smarthost, credentials, { socketTimeoutMs: SOCKET_TIMEOUT_MS, account }));
  await connectSmtp(connection);
  return { connection, secure: connection.secure };
}

function describeCertificate(socket: tls.TLSSocket | null): { text: string; expiresInDays: number | null } {
  const cert = socket?.getPeerCertificate?.();
  if (!cert || Object.keys(cert).length === 0) return { text: '', expiresInDays: null };
  const subject = cert.subject?.CN ?? '?';
  const issuer = cert.issuer?.O ?? cert.issuer?.CN ?? '?';
  const expires = Date.parse(cert.valid_to);
  const days = Number.isNaN(expires) ? null : Math.floor((expires - Date.now()) / 86_400_000);
  return { text: `certificate for ${subject} by ${issuer}, valid until ${cert.valid_to}`, expiresInDays: days };
}

const CA_FIX =
  'if the smarthost uses a private CA or a self-signed certificate, point tls.caFile at it ' +
  '(bulkmailer config set tls.caFile /path/ca.pem); check that the URL names the host the certificate is for; ' +
  'tls.verify false only as a last resort';

/**
 * Checks one smarthost of an account (default: the default account); the
 * titles name the account when it is not the default one.
 */
export async function checkSmarthost(
  config: RuntimeConfig,
  smarthost: Smarthost,
  env: NodeJS.ProcessEnv = process.env,
  account: AccountSettings = resolveAccount(config, DEFAULT_ACCOUNT),
): Promise<SmarthostCheck> {
  const d = account.name === DEFAULT_ACCOUNT ? smarthost.display : `account ${account.name}: ${smarthost.display}`;
  const results: CheckResult[] = [];
  const skipRest = (why: string) => {
    results.push(skip('smarthost.tls', `${d}: TLS and certificate`, why));
    results.push(skip('smarthost.auth', `${d}: AUTH accepted`, why));
  };

  const resolved = await checkResolve(smarthost, config.timeouts.connectMs);
  results.push(resolved);
  if (resolved.status === 'fail') {
    results.push(skip('smarthost.reach', `${d}: reachable, greeting`, 'host name does not resolve'));
    skipRest('host name does not resolve');
    return { results, greeting: null, reachable: false };
  }

  // The probe does not verify the certificate: a bad certificate is the TLS check's finding, not "unreachable".
  const probe = await probeSmarthost(smarthost, { timeoutMs: config.timeouts.probeMs, tlsVerify: false, tlsCa: account.tlsCa });
  if (!probe.reachable) {
    const error = probe.error ?? 'no answer';
    results.push(fail('smarthost.reach', `${d}: reachable, greeting`, error, reachFix(smarthost, error)));
    skipRest('smarthost unreachable');
    return { results, greeting: probe.greeting, reachable: false };
  }
  results.push(pass('smarthost.reach', `${d}: reachable, greeting`, `${probe.greeting ?? ''} (${probe.ms} ms)`));

  let credentials: Credentials | OAuth2Credentials | null;
  let credentialsError: string | null = null;
  try {
    credentials = await resolveAccountCredentials(spoolLayout(config.home), account.name, account.stored, smarthost, { env });
  } catch (err) {
    credentials = null;
    credentialsError = err instanceof Error ? err.message : String(err);
  }
  const secrets = [credentials !== null && 'pass' in credentials ? credentials.pass : undefined, smarthost.pass, account.stored.auth.pass, account.stored.oauth2.clientSecret];
  const clean = (text: string) => redactSecrets(text, secrets);

  let session: Session;
  try {
    session = await openSession(config, account, smarthost, credentials);
  } catch (err) {
    const e = err as SmtpErrorLike;
    const message = clean(e.response ?? e.message);
    const tlsTitle = `${d}: TLS and certificate`;
    if (CERT_ERROR.test(message) || e.code === 'ETLS') {
      results.push(fail('smarthost.tls', tlsTitle, `TLS failed: ${message}`, CA_FIX));
    } else if (/STARTTLS/i.test(message)) {
      results.push(
        fail('smarthost.tls', tlsTitle, `the smarthost does not offer STARTTLS, and a password must not cross the network in clear (${message})`, `use the provider's TLS port: smtps://${smarthost.host}:465, or smtp:// on a port that offers STARTTLS (587)`),
      );
    } else {
      results.push(fail('smarthost.tls', tlsTitle, `cannot open an SMTP session: ${message}`, reachFix(smarthost, message)));
    }
    results.push(skip('smarthost.auth', `${d}: AUTH accepted`, 'no session'));
    return { results, greeting: probe.greeting, reachable: true };
  }

  const { connection } = session;
  try {
    const socket = (connection as unknown as { _socket: tls.TLSSocket | null })._socket;
    const tlsTitle = `${d}: TLS and certificate`;
    if (!session.secure) {
      if (smarthost.loopback) {
        results.push(pass('smarthost.tls', tlsTitle, 'no TLS (STARTTLS not offered); acceptable on loopback, where nothing crosses the network'));
      } else {
        results.push(
          warn('smarthost.tls', tlsTitle, 'STARTTLS not offered: mail crosses the network in clear', `use the provider's TLS port: smtps://${smarthost.host}:465, or 587 with STARTTLS`),
        );
      }
    } else {
      const how = smarthost.secure ? 'implicit TLS (smtps)' : 'STARTTLS offered and negotiated';
      const cert = describeCertificate(socket);
      const protocol = socket?.getProtocol?.() ?? 'TLS';
      if (!account.tlsVerify) {
        const would = socket?.authorized ? 'it would have verified' : `it would NOT verify: ${String(socket?.authorizationError ?? 'unknown')}`;
        results.push(warn('smarthost.tls', tlsTitle, `${how}, ${protocol}; certificate NOT verified (tls.verify is false; ${would}). ${cert.text}`, `${CA_FIX.replace(/; tls.verify false.*/, '')}, then bulkmailer config set tls.verify true`));
      } else if (cert.expiresInDays !== null && cert.expiresInDays < 14) {
        results.push(warn('smarthost.tls', tlsTitle, `${how}, ${protocol}, verified; ${cert.text} (expires in ${plural(cert.expiresInDays, 'day')})`, 'tell the smarthost administrator the certificate expires soon'));
      } else {
        results.push(pass('smarthost.tls', tlsTitle, `${how}, ${protocol}, certificate verified; ${cert.text}`.replace(/; $/, '')));
      }
    }

    const authTitle = `${d}: AUTH accepted`;
    if (credentialsError !== null) {
      const fix = config.stored.auth.method === 'oauth2'
        ? 'set the OAuth2 keys the message names (README: "Gmail and Microsoft with OAuth2"), then `bulkmailer account login default`'
        : 'fix the password source: auth.passwordCommand must print the password on its first line, auth.passwordEnv must name a set variable';
      results.push(fail('smarthost.auth', authTitle, clean(credentialsError), fix));
    } else if (credentials === null) {
      results.push(skip('smarthost.auth', authTitle, 'no user configured: the smarthost must relay for this machine without AUTH'));
    } else if ('tokens' in credentials) {
      results.push(await checkXOAuth2(connection, credentials, d, authTitle));
    } else {
      const user = credentials.user;
      const pass_ = credentials.pass;
      const error = await new Promise<SmtpErrorLike | null>((resolve) => {
        connection.login({ user, pass: pass_ }, (err) => resolve((err as SmtpErrorLike | null) ?? null));
      });
      if (error === null) results.push(pass('smarthost.auth', authTitle, `authenticated as ${user} (no mail sent)`));
      else {
        const reply = clean(error.response ?? error.message);
        results.push(
          fail('smarthost.auth', authTitle, `AUTH as ${user} refused: ${reply}`, 'check auth.user and the password (auth.passwordCommand, auth.passwordEnv, auth.pass or the URL); some providers need an app password'),
        );
      }
    }
  } finally {
    await quitSession(connection);
  }
  return { results, greeting: probe.greeting, reachable: true };
}

/** XOAUTH2 with the account's token (refreshed if near expiry, as a flush would): no mail sent. */
async function checkXOAuth2(connection: SMTPConnection, credentials: OAuth2Credentials, display: string, title: string): Promise<CheckResult> {
  const login = (renewOnPlainRefusal: boolean) => loginXOAuth2(connection, credentials, display, { renewOnPlainRefusal });
  try {
    // A stored token refused with a plain 535 is renewed (E_TOKEN_STALE): try the new one once.
    await login(true).catch((err: unknown) => ((err as { code?: string }).code === 'E_TOKEN_STALE' ? login(false) : Promise.reject(err)));
    return pass('smarthost.auth', title, `authenticated as ${credentials.user} with XOAUTH2 (no mail sent)`);
  } catch (err) {
    const message = (err as Error).message;
    const fix = /account login/.test(message)
      ? message.replace(/^.*?(`bulkmailer account login [^`]+`).*$/s, 'run $1 (the provider no longer accepts the stored token)')
      : 'check auth.user (the address the token was issued for) and oauth2.*; `bulkmailer account login NAME` obtains a new token';
    return fail('smarthost.auth', title, message, fix);
  }
}

/** QUIT, waiting briefly for the server to close (a polite end, and no RST in its log). */
function quitSession(connection: SMTPConnection): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, 2_000);
    function done() {
      clearTimeout(timer);
      connection.close();
      resolve();
    }
    connection.once('end', done);
    try {
      connection.quit();
    } catch {
      done();
    }
  });
}
