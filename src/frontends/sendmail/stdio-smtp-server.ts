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
 * Failures end it too, and always the same way: the private connection
 * closes, then the server, so the process exits with a status that says
 * what happened. stdin failing (a reset connection, under inetd) hangs up
 * at once: E_INPUT, exit 74, and the intake drops a message without its
 * final dot, as for a dropped client; the connection itself failing before
 * the intake hung up is E_SESSION_LOST, 74. When the reader of stdout goes
 * away (EPIPE) the session goes on without its replies, as every command
 * finishes its work when its reader goes (src/output-stream.ts); another
 * stdout error hangs up (E_OUTPUT, 74). A message whose final dot came
 * before the end is committed, or not, before the status is decided.
 *
 * The local user is trusted as with the sendmail command itself: no AUTH.
 */
import { once } from 'node:events';
import net from 'node:net';
import { BulkmailerError, dataError, ExitCode } from '../../errors.js';
import { openSpool, settleCommits } from '../../spool/index.js';
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
  const { server, inFlight } = createSpoolSmtpServer(
    spool,
    { host: '127.0.0.1', port: 0, maxMessageSize: config.maxMessageSize, auth: null, tls: null },
    {
      isClosing: () => false,
      acceptConnection: async (session) => session.remotePort === (await ourPortKnown),
    },
  );
  let failure: BulkmailerError | null;
  try {
    server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    const { port } = server.server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    ourPort(socket.localPort as number);
    failure = await serveSession(socket, stdio);
  } finally {
    // Whatever ended the session, or failed before it began: the server's
    // listening socket, and stdin, would keep the process from exiting.
    if ('destroy' in stdio.stdin && typeof stdio.stdin.destroy === 'function') stdio.stdin.destroy();
    await server.close();
  }
  // A message whose final dot came before the end is committed (or not) before the status is decided,
  // and what follows its 250 (the nudge) has run: it joins inFlight before the 250 settles, so the
  // count does not reach 0 in between.
  await inFlight.settled();
  // Their commits' after-work too (state/<bucket> fsynced, pending names removed): tmp/ is left clean.
  await settleCommits();
  if (failure !== null) throw failure;
  return 0;
}

/**
 * Relays the session between stdio and the private connection; resolves
 * once that connection has closed, however it ended (it never rejects),
 * with what the exit status must say, or null for a session that ended as
 * it should (QUIT, or stdin's end after the last reply).
 */
function serveSession(socket: net.Socket, stdio: StdioStreams): Promise<BulkmailerError | null> {
  let failure: BulkmailerError | null = null;
  let abandoned = false;
  let abandonTimer: NodeJS.Timeout | undefined;
  // The intake has ended its side (after its 221 or a 421): the session is over for it, and
  // a write failing from now on (text the client sent after QUIT) loses nothing.
  let intakeEnded = false;
  socket.on('end', () => (intakeEnded = true));
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!intakeEnded) failure ??= ioFailure('E_SESSION_LOST', `the SMTP session's connection failed (${err.code ?? err.message})`, err);
  });
  // The client can no longer be heard: hang up at once (the intake drops a message without its final dot).
  stdio.stdin.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= ioFailure('E_INPUT', `cannot read standard input (${err.code ?? err.message})`, err);
    socket.destroy();
  });
  // The reader of the replies went away (`sendmail -bs | head -1`): the session goes on without
  // them, as every command finishes its work when its output's reader goes (src/output-stream.ts).
  // pipe() has unpiped and paused the connection: read it again, or the session would stall.
  stdio.stdout.on('error', (err: NodeJS.ErrnoException) => {
    socket.unpipe(stdio.stdout);
    socket.resume();
    if (err.code !== 'EPIPE') {
      failure ??= ioFailure('E_OUTPUT', `cannot write the replies to standard output (${err.code ?? err.message})`, err);
      socket.destroy();
    }
  });
  socket.pipe(stdio.stdout, { end: false });
  // Input is handed over after the greeting (the intake would hold it until then anyway).
  const input = trackDataMode();
  let goAheads = 0; // 354 replies seen
  let replyTail = '';
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
      abandonTimer = setTimeout(hangUp, ABANDON_WAIT_MS);
      const check = () => {
        if (goAheads >= input.dataCommands()) {
          clearTimeout(abandonTimer);
          setImmediate(hangUp);
        }
      };
      socket.on('data', check);
      check();
    });
  });
  return new Promise((resolve) =>
    socket.once('close', () => {
      clearTimeout(abandonTimer);
      stdio.stdin.unpipe(socket);
      if (failure === null && abandoned) {
        failure = dataError('standard input ended in the middle of a message (no <CRLF>.<CRLF>): it was not queued', 'E_DATA_UNFINISHED');
      }
      resolve(failure);
    }),
  );
}

/** An I/O failure that cut the session (exit 74): what was answered 250 is queued, a message without its final dot is not. */
function ioFailure(code: string, what: string, cause: unknown): BulkmailerError {
  return new BulkmailerError(code, `${what}: the SMTP session was cut; messages answered 250 are queued, one not yet ended by its final dot is not`, {
    exitCode: ExitCode.ioErr,
    cause,
  });
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
