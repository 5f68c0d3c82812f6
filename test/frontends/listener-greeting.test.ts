/**
 * The listener greets at once (issue 13; smtp-server paused 100 ms first,
 * which we had to override, until the intake replaced it). No timed
 * assertion: the check is that the whole greeting is already written to
 * the socket when the intake's accept() returns, i.e. that no timer, of any
 * length, stands between the accepted connection and the 220. A change
 * that brings a pause in fails this test at once, on a loaded machine as
 * on an idle one. Also: a client that talks before reading the greeting is
 * answered in order after it, and the real `startListener` path (which
 * `sendmail -bs` shares) greets the same.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createSpoolSmtpServer, type SpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { openSpool } from '../../src/spool/index.js';
import { makeTempHome, type TempHome } from '../support/home.js';
import { RawSmtpClient } from '../support/smtp-client.js';
import { once } from 'node:events';

const GREETING = `220 ${os.hostname()} ESMTP bulkmailer ready\r\n`;

/** A spool-backed server that reports, for each connection, the bytes written when accept() returned. */
async function observedServer(home: string) {
  const spool = await openSpool(home);
  const built: SpoolSmtpServer = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
    { isClosing: () => false, nudge: false },
  );
  const { server } = built;
  const writtenAtAccept: number[] = [];
  // The TCP server hands each socket to accept() through its 'connection' listener.
  server.server.removeAllListeners('connection');
  server.server.on('connection', (socket: net.Socket) => {
    server.accept(socket);
    writtenAtAccept.push(socket.bytesWritten);
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as net.AddressInfo;
  return { port, writtenAtAccept, close: () => server.close() };
}

describe('listener greeting without the early-talker pause', () => {
  let temp: TempHome;
  before(async () => {
    temp = await makeTempHome();
  });
  after(async () => {
    await temp.cleanup();
  });

  it('has the whole 220 written before the intake accept() returns', async () => {
    const { port, writtenAtAccept, close } = await observedServer(temp.home);
    try {
      for (let i = 0; i < 3; i++) {
        const client = await RawSmtpClient.connect(port);
        const greeting = await client.reply();
        assert.equal(greeting.code, 220);
        assert.equal(`${greeting.lines.join('\r\n')}\r\n`, GREETING);
        assert.equal((await client.command('EHLO client.example.org')).code, 250);
        assert.equal((await client.command('QUIT')).code, 221);
        client.close();
      }
      assert.deepEqual(
        writtenAtAccept,
        [1, 2, 3].map(() => Buffer.byteLength(GREETING)),
        'the greeting was not written when accept() returned: something delays it',
      );
    } finally {
      await close();
    }
  });

  it('a client that sends EHLO right after connecting, without reading, gets the 220 first, then 250', async () => {
    const { port, close } = await observedServer(temp.home);
    try {
      const client = await RawSmtpClient.connect(port);
      await client.write('EHLO eager.example.org\r\nQUIT\r\n');
      assert.equal((await client.reply()).code, 220);
      assert.equal((await client.reply()).code, 250);
      assert.equal((await client.reply()).code, 221);
      client.close();
    } finally {
      await close();
    }
  });

  it('startListener serves the same server: greeting first, a transaction, QUIT', async () => {
    const listener = await startListener({ home: temp.home, port: 0, nudge: false });
    try {
      const client = await RawSmtpClient.connect(listener.port);
      const greeting = await client.reply();
      assert.equal(`${greeting.lines.join('\r\n')}\r\n`, GREETING);
      assert.equal((await client.command('EHLO client.example.org')).code, 250);
      assert.equal((await client.command('QUIT')).code, 221);
      client.close();
    } finally {
      await listener.close();
    }
  });
});
