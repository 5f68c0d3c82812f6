/**
 * The listener holds a bounded number of a message's bytes while streaming
 * it to disk, whatever the message's size and on every Node.js version
 * (issue 14). Measured as bytes in flight, not as RSS: at every read of the
 * listener's socket, the bytes read from the kernel so far minus the bytes
 * already in the spool's temporary message file. Everything in between is
 * held by the process. By design that is at most what the stream stages
 * between socket and file take before they stop reading (each stops at its
 * high-water mark and may hold one more read), and a fast client is held
 * back by TCP. A listener that kept the message (or let a stage ignore
 * backpressure) would show the whole message in flight.
 *
 * RSS is the wrong measure for this: the chunks already written are garbage
 * that V8 frees on its own schedule (tens of MB on a 100 MB message, more on
 * Node 24 than 20, and flat with a forced GC); see docs/performance.md and
 * `npm run bench:listen-memory`.
 *
 * The client is a separate process (test/support/smtp-blast-client.mjs) so
 * that it writes as fast as the kernel lets it, independent of our event
 * loop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import type net from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createSpoolSmtpServer } from '../../src/frontends/listener/spool-smtp-server.js';
import { HIGH_WATER_BYTES } from '../../src/frontends/smtp-intake/message-body.js';
import { messagePath, openSpool, type Spool } from '../../src/spool/index.js';
import { makeTempHome, type TempHome } from '../support/home.js';

const BLAST_CLIENT = fileURLToPath(new URL('../support/smtp-blast-client.mjs', import.meta.url));
const MESSAGE_MB = 32;

/** libuv reads a socket into buffers of at most 64 KiB. */
const READ_BYTES = 64 * 1024;
/**
 * The stages between the socket and the file: the socket's readable side
 * (it stops at the default high-water mark, 16 KiB on Node 20, 64 KiB from
 * 22, and may hold one read beyond it) and the intake's queue of unread
 * message pieces (the socket is paused past HIGH_WATER_BYTES, so it holds
 * at most that and one read more). Our writer holds one chunk while it
 * writes it. (Under smtp-server there were four stream stages; the bound
 * was 4 x (high-water mark + one read) + one read, and this test kept it
 * then.)
 */
const BOUND_BYTES = getDefaultHighWaterMark(false) + READ_BYTES + (HIGH_WATER_BYTES + READ_BYTES) + READ_BYTES;

/** Size of the message file being written in spool/tmp, 0 before it exists. */
function tmpMessageBytes(spool: Spool): number {
  const name = fs.readdirSync(spool.tmp).find((file) => file.endsWith('.msg'));
  if (name === undefined) return 0;
  try {
    return fs.statSync(`${spool.tmp}/${name}`).size;
  } catch {
    return 0; // renamed into msg/ since the listing
  }
}

describe('listener memory while streaming a big message', () => {
  let temp: TempHome;
  before(async () => {
    temp = await makeTempHome();
  });
  after(async () => {
    await temp.cleanup();
  });

  it(`holds at most the stream buffers' worth of a ${MESSAGE_MB} MB message, never the message`, async () => {
    const spool = await openSpool(temp.home);
    const { server } = createSpoolSmtpServer(
      spool,
      { host: '127.0.0.1', port: 0, maxMessageSize: 2 * MESSAGE_MB * 1024 * 1024, auth: null, tls: null },
      { isClosing: () => false, nudge: false },
    );
    // [bytes read from the socket, bytes in the temporary message file] at every read
    const samples: Array<[number, number]> = [];
    server.server.on('connection', (socket: net.Socket) => {
      socket.on('data', () => samples.push([socket.bytesRead, tmpMessageBytes(spool)]));
    });
    server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    const { port } = server.server.address() as net.AddressInfo;
    try {
      const client = spawn(process.execPath, [BLAST_CLIENT, String(port), String(MESSAGE_MB)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      client.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      client.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const [code] = await once(client, 'exit');
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout) as { reply: string; commandBytes: number; size: number; waits: number };
      const id = /^250 .*queued as ([0-9a-z]{17})/.exec(result.reply)?.[1];
      assert.ok(id, result.reply);
      assert.equal(fs.statSync(messagePath(spool, id)).size, result.size);

      // Until the whole message is read its file is in tmp/ (renamed only after the final dot).
      const messageEnd = result.commandBytes + result.size;
      const during = samples.filter(([read]) => read > result.commandBytes && read <= messageEnd);
      assert.ok(during.length >= (result.size / READ_BYTES) * 0.9, `only ${during.length} reads sampled`);
      const inFlight = during.map(([read, written]) => read - result.commandBytes - written);
      const peak = Math.max(...inFlight);
      console.log(
        `${process.version}: peak ${(peak / 1024).toFixed(0)} KiB in flight of a ${MESSAGE_MB} MB message ` +
          `(bound ${(BOUND_BYTES / 1024).toFixed(0)} KiB), ${during.length} reads, the client waited for drain ${result.waits} times`,
      );
      assert.ok(
        peak <= BOUND_BYTES,
        `${peak} bytes of the message were held by the listener at once; the stream buffers allow ${BOUND_BYTES}`,
      );
    } finally {
      await server.close();
    }
  });
});
