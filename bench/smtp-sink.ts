/**
 * A minimal, fast SMTP sink for benchmarks (Postfix's smtp-sink in spirit):
 * accepts everything, supports PIPELINING, counts messages and recipients,
 * keeps nothing. Runs as its own process so the flusher under test does not
 * share its event loop. Prints `port N` when listening; on SIGTERM prints a
 * JSON line of counts and exits; `firstAt` and `lastAt` are when the first
 * and the last message was accepted (ms since the epoch, fractional), so a
 * benchmark can time a drain to its last delivery, as the peer harness does.
 *
 * Loopback only: it binds 127.0.0.1, or SINK_HOST (another 127/8 address,
 * an MX host of the direct delivery bench).
 */
import net from 'node:net';

const counts = { connections: 0, messages: 0, recipients: 0, bytes: 0, firstAt: 0, lastAt: 0 };

const server = net.createServer((socket) => {
  counts.connections++;
  socket.setNoDelay(true);
  socket.write('220 sink ESMTP\r\n');
  let buffer = '';
  let inData = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    let out = '';
    for (;;) {
      if (inData) {
        const end = buffer.indexOf('\r\n.\r\n');
        if (end < 0) {
          // keep the tail that may hold the start of the terminator
          if (buffer.length > 5) {
            counts.bytes += buffer.length - 5;
            buffer = buffer.slice(-5);
          }
          break;
        }
        counts.bytes += end;
        buffer = buffer.slice(end + 5);
        inData = false;
        counts.messages++;
        counts.lastAt = performance.timeOrigin + performance.now();
        if (counts.firstAt === 0) counts.firstAt = counts.lastAt;
        out += '250 2.0.0 Ok: queued\r\n';
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) break;
      const line = buffer.slice(0, eol);
      buffer = buffer.slice(eol + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') out += '250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n';
      else if (verb === 'HELO') out += '250 sink\r\n';
      else if (verb === 'RCPT') {
        counts.recipients++;
        out += '250 2.1.5 Ok\r\n';
      } else if (verb === 'DATA') {
        inData = true;
        // The DATA terminator search needs the leading CRLF of an empty body too.
        buffer = '\r\n' + buffer;
        out += '354 End data with <CR><LF>.<CR><LF>\r\n';
      } else if (verb === 'QUIT') {
        socket.end('221 2.0.0 Bye\r\n');
        return;
      } else out += '250 2.0.0 Ok\r\n';
    }
    if (out) socket.write(out);
  });
  socket.on('error', () => {});
});

const host = process.env.SINK_HOST ?? '127.0.0.1';
if (!host.startsWith('127.')) throw new Error('SINK_HOST must be a loopback address');
server.listen(Number(process.env.SINK_PORT ?? 0), host, () => {
  process.stdout.write(`port ${(server.address() as net.AddressInfo).port}\n`);
});

process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify(counts)}\n`);
  process.exit(0);
});
