/**
 * `bulkmailer account login NAME [--flow device|loopback] [--no-browser]`:
 * obtains an OAuth2 refresh token for an account that authenticates with
 * XOAUTH2 (auth.method oauth2), by the device grant (a code to enter on
 * any browser) or the loopback flow (a browser on this machine comes back
 * to 127.0.0.1), and stores it private (spool/accounts/NAME.token.json,
 * 0600). NAME `default` is the top-level account.
 *
 * Then a hold of the account for refused authentication is lifted and a
 * running agent is nudged, so mail held for the login goes at once.
 *
 * Prints where to go and the user code, never a token. Fails with 78 when
 * the account is not set up for OAuth2 (the message names the key), 77
 * when the provider refused, 75 when the code expired or the endpoint was
 * unreachable; nothing is stored then.
 */
import { spawn } from 'node:child_process';
import { loadRuntimeConfig } from '../../config/runtime.js';
import { configError, usageError } from '../../errors.js';
import { runDeviceFlow } from '../../oauth2/device-flow.js';
import { runLoopbackFlow } from '../../oauth2/loopback-flow.js';
import { loginRecord } from '../../oauth2/access-tokens.js';
import { accountKey, resolveOAuth2Settings, usesOAuth2 } from '../../oauth2/settings.js';
import { DEFAULT_ACCOUNT, resolveAccount } from '../../config/accounts.js';
import type { LoginFlow } from '../../oauth2/providers.js';
import { clearAccountHold, nudgeFlusher, openSpool, readAccountHold, writeOAuthToken } from '../../spool/index.js';
import { checkAccountName } from '../../model/account-name.js';
import type { CommandContext } from '../context.js';

export interface LoginOptions {
  flow?: LoginFlow;
  /** commander's --no-browser: false when given. */
  browser?: boolean;
}

/** Opens the URL in the desktop's browser, when there is a desktop to ask; silent when there is none. */
function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // The URL is printed anyway.
  }
}

export default async function accountLogin(ctx: CommandContext, name: string, options: LoginOptions): Promise<number> {
  checkAccountName(name);
  const config = loadRuntimeConfig(ctx.home);
  if (!config.accounts.has(name)) throw usageError(`no account named ${name}; \`bulkmailer account list\` lists them ("${DEFAULT_ACCOUNT}" is the top level)`, 'E_NO_ACCOUNT');
  const account = resolveAccount(config, name);
  const settings = account.stored;
  if (!usesOAuth2(settings)) {
    throw configError(
      `account ${name} authenticates with a password; for OAuth2 (Gmail, Microsoft): bulkmailer config set ${accountKey(name, 'auth.method')} oauth2`,
      'E_NOT_OAUTH2',
    );
  }
  const oauth2 = resolveOAuth2Settings(name, settings, account.smarthosts[0] ?? null);
  const flow = options.flow ?? oauth2.defaultFlow;
  const spool = await openSpool(ctx.home);
  const out = (line: string) => ctx.stdout.write(`${line}\n`);
  const browse = options.browser !== false && ctx.stdout.isTTY === true;
  const issued =
    flow === 'device'
      ? await runDeviceFlow(oauth2, {
          onPrompt: (prompt) => {
            out(`To let bulkmailer send as ${oauth2.user ?? `account ${name}`}, open ${prompt.verificationUri}`);
            out(`and enter the code ${prompt.userCode} (valid ${Math.round(prompt.expiresInS / 60)} minutes).`);
            if (prompt.verificationUriComplete !== null) out(`Or open ${prompt.verificationUriComplete}`);
            out('Waiting for the approval...');
          },
        })
      : await runLoopbackFlow(oauth2, {
          onAuthorizationUrl: (url) => {
            out(`To let bulkmailer send as ${oauth2.user ?? `account ${name}`}, open this address in a browser on this machine:`);
            out(url);
            out('Waiting for the browser to come back...');
            if (browse) openBrowser(url);
          },
        });
  await writeOAuthToken(spool, loginRecord(oauth2, issued, Date.now()));
  out(`Logged in: account ${name} sends with XOAUTH2; its refresh token is stored private (0600) in the spool.`);
  const hold = readAccountHold(spool, name);
  if (hold !== null && hold.kind === 'auth') {
    clearAccountHold(spool, name);
    out(`The hold of account ${name} is lifted: its mail goes with the next flush.`);
    await nudgeFlusher(spool);
  }
  return 0;
}
