/**
 * One account-name check for every entry point (src/model/account-name.ts):
 * a name the config schema refuses for `accounts.<name>` is refused by
 * `account add`, `account login` and `account remove` (exit 64, config
 * untouched) and by the spool's token store (no file written, none read),
 * and a name the schema takes is taken by all of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { BulkmailerError } from '../../src/errors.js';
import { checkStoredConfig } from '../../src/config/store.js';
import { openSpool, readOAuthToken, writeOAuthToken, type OAuthTokenRecord } from '../../src/spool/index.js';

// Upper case and dots passed the token store's own looser check before; the schema never took them.
const REFUSED = ['Work', 'a.b', '../evil', 'x'.repeat(33), '-lead', 'ünï'];
const TAKEN = ['work', 'a_b-2', 'x'.repeat(32)];

const account = { smarthost: 'smtp://127.0.0.1:2501', senders: ['@club.example'] };

function schemaTakes(name: string): boolean {
  try {
    checkStoredConfig('/nowhere', { accounts: { [name]: account } });
    return true;
  } catch {
    return false;
  }
}

function token(name: string): OAuthTokenRecord {
  return {
    version: 1,
    account: name,
    refreshToken: 'r-secret',
    accessToken: null,
    expiresAt: null,
    tokenUrl: 'https://127.0.0.1/token',
    clientId: 'client',
    scope: null,
    loggedInAt: new Date(0).toISOString(),
  };
}

test('the names under test are the ones the config schema refuses and takes', () => {
  for (const name of REFUSED) assert.equal(schemaTakes(name), false, name);
  for (const name of TAKEN) assert.equal(schemaTakes(name), true, name);
});

test('the token store refuses a name the schema refuses (reading and writing, nothing written) and takes one it takes', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const spool = await openSpool(home);
  const isNameError = (err: unknown) => err instanceof BulkmailerError && err.code === 'E_ACCOUNT_NAME' && err.exitCode === 64;
  for (const name of REFUSED) {
    assert.throws(() => readOAuthToken(spool, name), isNameError, name);
    await assert.rejects(writeOAuthToken(spool, token(name)), isNameError, name);
  }
  assert.deepEqual(await fs.readdir(path.join(spool.root, 'accounts')).catch(() => []), []);
  for (const name of [...TAKEN, 'default']) {
    await writeOAuthToken(spool, token(name));
    assert.equal(readOAuthToken(spool, name)?.refreshToken, 'r-secret', name);
  }
});

test('account add, login and remove refuse a name the schema refuses with exit 64, writing nothing', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  await writeConfig(home, { accounts: { a: account } });
  const before = await fs.readFile(path.join(home, 'config.json'), 'utf8');
  // A leading '-' reaches commander as an option (refused there, exit 64, before any check of ours).
  for (const name of REFUSED.filter((n) => !n.startsWith('-'))) {
    for (const args of [
      ['account', 'add', name, '--smarthost', 'smtp://127.0.0.1:2502', '--senders', 'x@y.example'],
      ['account', 'login', name],
      ['account', 'remove', name],
    ]) {
      const run = await runCli(args, { home });
      assert.equal(run.code, 64, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /is not an account name: lower-case letters, digits/, args.join(' '));
    }
  }
  assert.equal(await fs.readFile(path.join(home, 'config.json'), 'utf8'), before);
  assert.deepEqual(await fs.readdir(path.join(home, 'spool', 'accounts')).catch(() => []), []);
  const added = await runCli(['account', 'add', 'work', '--smarthost', 'smtp://127.0.0.1:2502', '--senders', 'x@y.example'], { home });
  assert.equal(added.code, 0, added.stderr);
});
