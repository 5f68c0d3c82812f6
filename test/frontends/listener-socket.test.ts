/**
 * `bulkmailer listen --socket PATH`: the SMTP intake on a unix socket,
 * created 0600, a stale socket replaced, a live one or a plain file refused,
 * the file removed on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { makeTempHome } from '../support/home.js';
import { runCli, startListen } from '../support/cli.js';
import { openRaw, sendRawMessage } from '../support/smtp-client.js';
import { listEntryIds, openSpool, readEntryState } from '../../src/spool/index.js';

/** `listen --socket PATH`, once it says it listens there. */
async function startSocketListener(home: string, socket: string) {
  const started = await startListen(['--socket', socket], { home });
  assert.equal(started.address, socket);
  return started.child;
}

test('listen --socket: created 0600, takes a message into the spool, removed on SIGTERM', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const socket = path.join(home, 'smtp.sock');
  const child = await startSocketListener(home, socket);
  t.after(() => void child.kill('SIGKILL'));
  const stat = fs.statSync(socket);
  assert.ok(stat.isSocket());
  assert.equal(stat.mode & 0o777, 0o600);

  const client = await openRaw(socket, { ehlo: 'script.local' });
  const reply = await sendRawMessage(client, 'list@club.example', ['ann@club.example'], 'From: list@club.example\r\nSubject: by socket\r\n\r\nHi.\r\n');
  assert.equal(reply.code, 250, reply.text);
  await client.command('QUIT');
  client.close();

  const spool = await openSpool(home);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 1);
  assert.equal((await readEntryState(spool, ids[0]!))?.subject, 'by socket');

  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.equal(fs.existsSync(socket), false, 'the socket file is removed');
});

test('listen --socket: a stale socket is replaced; a live one and a plain file are refused (exit 73)', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  // A stale socket: its listener was killed (-9), so nobody removed the file.
  const stale = path.join(home, 'stale.sock');
  const owner = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`]);
  await once(owner.stdout!, 'data');
  owner.kill('SIGKILL');
  await once(owner, 'exit');
  assert.ok(fs.statSync(stale).isSocket());
  const child = await startSocketListener(home, stale);
  t.after(() => void child.kill('SIGKILL'));

  const live = await runCli(['listen', '--socket', stale], { home });
  assert.equal(live.code, 73);
  assert.match(live.stderr, /another listener is running/);

  const plain = path.join(home, 'notes.txt');
  fs.writeFileSync(plain, 'keep me');
  const refused = await runCli(['listen', '--socket', plain], { home });
  assert.equal(refused.code, 73);
  assert.match(refused.stderr, /not a socket/);
  assert.equal(fs.readFileSync(plain, 'utf8'), 'keep me');

  const both = await runCli(['listen', '--socket', plain, '--port', '0'], { home });
  assert.equal(both.code, 64);
  child.kill('SIGTERM');
  await once(child, 'exit');
});
