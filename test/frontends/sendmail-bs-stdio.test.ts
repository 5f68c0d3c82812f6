/**
 * `sendmail -bs` (runSmtpSessionOnStdio) run in-process on stream pairs, for
 * the ends of a session that a spawned process cannot order exactly: here,
 * a client (swaks --pipe) that closes its end of the pipe after reading
 * the 221 to its QUIT. Fails when the session crashes or never ends.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { runSmtpSessionOnStdio } from '../../src/frontends/sendmail/stdio-smtp-server.js';
import { makeTempHome } from '../support/home.js';

test('sendmail -bs: stdin closed after the 221 and the server hang-up ends the session with 0', async () => {
  const home = await makeTempHome();
  try {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let replies = '';
    stdout.on('data', (chunk: Buffer) => (replies += chunk.toString('latin1')));
    // Our side of the private connection ends when the intake hangs up
    // after its 221; piping into stdout, that end shows as an 'unpipe'.
    const hungUp = once(stdout, 'unpipe');
    const session = runSmtpSessionOnStdio(home.home, { from: null, maxMessageSize: 1024 * 1024 }, { stdin, stdout });
    stdin.write('EHLO client.example\r\nQUIT\r\n');
    await hungUp;
    assert.match(replies, /^221 /m);
    // swaks closes the pipe only now, after the 221 and the hang-up.
    stdin.end();
    assert.equal(await session, 0);
  } finally {
    await home.cleanup();
  }
});
