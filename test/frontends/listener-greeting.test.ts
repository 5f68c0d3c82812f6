/**
 * The listener greets at once (issue 13): smtp-server's 100 ms early-talker
 * pause is overridden in prompt-greeting-server.ts. No timed assertion: the
 * check is that the whole greeting is already written to the socket when
 * smtp-server's connect() returns, i.e. that no timer, of any length, stands
 * between the accepted connection and the 220. An upgrade that brings the
 * pause back (or makes it some other way) fails this test at once, on a
 * loaded machine as on an idle one. Also: the real `startListener` path and
 * `sendmail -bs` share the server, smtp-server's own connection refusal
 * (maxClients) still answers 421 without a greeting, and the global
 * setTimeout is never left patched.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { createSpoolSmtpServer, type SpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { EARLY_TALKER_PAUSE_MS } from '../../src/frontends/listener/prompt-greeting-server.js';
import { startListener } from '../../src/frontends/listener/start-listener.js';
import { openSpool } from '../../src/spool/index.js';
import { makeTempHome, type TempHome } from '../support/home.js';
import { RawSmtpClient } from '../support/smtp-client.js';
import { once } from 'node:events';

const GREETING = `220 ${os.hostname()} ESMTP bulkmailer ready\r\n`;

interface Observed {
  /** Bytes written to the socket when upstream's connect() returned. */
  writtenAtConnect: number;
  setTimeoutRestored: boolean;
}

/** A spool-backed server whose connect() reports what it had written on return. */
async function observedServer(home: string, extra: Parameters<typeof createSpoolSmtpServer>[3] = {}) {
  const spool = await openSpool(home);
  const built: SpoolSmtpServer = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: 1_000_000, auth: null, tls: null },
    { isClosing: () => false, nudge: false },
    extra,
  );
  const { server } = built;
  server.on('error', () => {});
  const observed: Observed[] = [];
  const realSetTimeout = globalThis.setTimeout;
  const connect = server.connect.bind(server);
  server.connect = (socket: net.Socket, socketOptions) => {
    connect(socket, socketOptions);
    observed.push({ writtenAtConnect: socket.bytesWritten, setTimeoutRestored: globalThis.setTimeout === realSetTimeout });
  };
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as net.AddressInfo;
  return { server, port, observed, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('listener greeting without the early-talker pause', () => {
  let temp: TempHome;
  before(async () => {
    temp = await makeTempHome();
  });
  after(async () => {
    await temp.cleanup();
  });

  it('has the whole 220 written before smtp-server connect() returns, and restores setTimeout', async () => {
    const { port, observed, close } = await observedServer(temp.home);
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
      assert.equal(observed.length, 3);
      for (const seen of observed) {
        assert.equal(
          seen.writtenAtConnect,
          Buffer.byteLength(GREETING),
          `greeting not written when connect() returned: smtp-server's ${EARLY_TALKER_PAUSE_MS} ms pause is back?`,
        );
        assert.ok(seen.setTimeoutRestored, 'globalThis.setTimeout left patched');
      }
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

  it("keeps smtp-server's own refusal over maxClients: 421 and no greeting", async () => {
    const { port, observed, close } = await observedServer(temp.home, { maxClients: 1 });
    try {
      const first = await RawSmtpClient.connect(port);
      assert.equal((await first.reply()).code, 220);
      const second = await RawSmtpClient.connect(port);
      const refused = await second.reply();
      assert.equal(refused.code, 421);
      assert.match(refused.text, /Too many connected clients/);
      // The first connection is served normally.
      assert.equal((await first.command('EHLO client.example.org')).code, 250);
      assert.equal(observed.length, 2);
      assert.ok(observed.every((seen) => seen.setTimeoutRestored));
      second.close();
      first.close();
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
