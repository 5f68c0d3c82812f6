/**
 * `sendmail -bs`: an SMTP session on stdin/stdout, served by the same
 * spool-backed intake as the listener. The intake serves sockets, so
 * the session runs over a private loopback connection: a server on
 * 127.0.0.1 port 0 that serves exactly one connection, ours (any other
 * client that finds the port is refused), with stdin piped in and the
 * replies piped out. Ends when the client QUITs, or after the commands it
 * sent have been answered when stdin ends without QUIT (exit 0). When
 * stdin ends inside a message (after DATA, before its CRLF.CRLF: a message
 * ended by a dot on an LF-only line is not ended, as for the listener) the
 * message is abandoned at once, nothing is stored, and the session fails
 * with E_DATA_UNFINISHED (exit 65).
 *
 * The local user is trusted as with the sendmail command itself: no AUTH.
 */
import { once } from 'node:events';
import net from 'node:net';
import { dataError } from '../../errors.js';
import { openSpool } from '../../spool/index.js';
import { createSpoolSmtpServer } from '../listener/spool-smtp-server.js';
import { DotDecoder } from '../smtp-intake/dot-decoder.js';
import type { SendmailConfig } from './read-config.js';

/** How long an abandoned message waits for the server's 354 before hanging up. */
const ABANDON_WAIT_MS = 5_000;

export interface StdioStreams {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
}

export async function runSmtpSessionOnStdio(
  home: string,
  config: SendmailConfig,
  stdio: StdioStreams = { stdin: process.stdin, stdout: process.stdout },
): Promise<number> {
  const spool = await openSpool(home);
  let ourPort: (port: number) => void = () => {};
  const ourPortKnown = new Promise<number>((resolve) => (ourPort = resolve));
  const { server } = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: config.maxMessageSize, auth: null, tls: null },
    {
      isClosing: () => false,
      acceptConnection: async (session) => session.remotePort === (await ourPortKnown),
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const { port } = server.server.address() as net.AddressInfo;

  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  ourPort(socket.localPort as number);
  socket.on('error', () => {});
  socket.pipe(stdio.stdout, { end: false });
  // Input is handed over after the greeting (the intake would hold it until then anyway).
  const input = trackDataMode();
  let goAheads = 0; // 354 replies seen
  let replyTail = '';
  let abandoned = false;
  socket.on('data', (chunk: Buffer) => {
    const text = replyTail + chunk.toString('latin1');
    const end = text.lastIndexOf('\n') + 1; // complete lines only; the rest waits for its end
    goAheads += (text.slice(0, end).match(/(^|\n)354[ -]/g) ?? []).length;
    replyTail = text.slice(end);
  });
  socket.once('data', () => {
    stdio.stdin.on('data', (chunk: Buffer | string) => input.feed(chunk));
    stdio.stdin.pipe(socket, { end: false });
    // End of stdin without QUIT: finish the commands already sent, then end the session.
    // (QUIT rather than a half-close: the session ends with the 221 a client expects.)
    // In the middle of a message, QUIT would become message text: abandon the
    // session instead (the unfinished message is not stored, as with a dropped client).
    stdio.stdin.on('end', () => {
      // Not writable: the intake already hung up (the client QUIT and closed
      // its pipe after the 221): the session is over, nothing left to say.
      if (socket.destroyed || !socket.writable) return;
      if (!input.inMessage()) {
        socket.write('QUIT\r\n');
        return;
      }
      // Let the client see the replies it is owed (up to the 354), then hang up.
      abandoned = true;
      const hangUp = () => socket.destroy();
      const timer = setTimeout(hangUp, ABANDON_WAIT_MS);
      const check = () => {
        if (goAheads >= input.dataCommands()) {
          clearTimeout(timer);
          setImmediate(hangUp);
        }
      };
      socket.on('data', check);
      check();
    });
  });
  await once(socket, 'close');
  stdio.stdin.unpipe(socket);
  if ('destroy' in stdio.stdin && typeof stdio.stdin.destroy === 'function') stdio.stdin.destroy();
  await server.close();
  if (abandoned) throw dataError('standard input ended in the middle of a message (no <CRLF>.<CRLF>): it was not queued', 'E_DATA_UNFINISHED');
  return 0;
}

/**
 * Follows the client's side of the dialogue, just enough to know whether
 * it is in the middle of a message: after a DATA line, until the end the
 * intake takes, found by the intake's own decoder (dot-decoder.ts: a dot
 * line ended by CRLF right after a CRLF; a "." ended by a bare LF is
 * message text there, so it is here too, else the QUIT sent at the end of
 * stdin would become text).
 */
function trackDataMode(): { feed(chunk: Buffer | string): void; inMessage(): boolean; dataCommands(): number } {
  const decoder = new DotDecoder();
  const discard = () => {};
  let partial = ''; // a command line not ended yet
  let inData = false;
  let commands = 0;
  return {
    feed(chunk) {
      let input = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      while (input.length > 0) {
        if (inData) {
          const rest = decoder.feed(input, discard);
          if (rest === undefined) return;
          inData = false;
          input = rest;
          continue;
        }
        const lf = input.indexOf(0x0a);
        if (lf < 0) {
          partial += input.toString('latin1');
          return;
        }
        const line = partial + input.toString('latin1', 0, lf);
        partial = '';
        input = input.subarray(lf + 1);
        if (/^data$/i.test(line.trim())) {
          inData = true;
          decoder.start();
          commands++;
        }
      }
    },
    inMessage: () => inData,
    dataCommands: () => commands,
  };
}
