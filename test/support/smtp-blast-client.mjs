// A separate process that sends one big message over SMTP as fast as the
// server takes it: `node smtp-blast-client.mjs PORT MEGABYTES`. It writes
// 64 KiB blocks of 79-byte lines, waiting for 'drain' whenever its socket
// says so (that wait is the server's backpressure reaching the client),
// and prints one JSON line: the reply to the final dot, the bytes of the
// commands before the message, the bytes of the message (head and body),
// and how many times it had to wait.
// Plain JavaScript: it runs on bare node, beside the test, on its own core.
import net from 'node:net';
import { once } from 'node:events';

const [port, megabytes] = process.argv.slice(2).map(Number);
const socket = net.connect(port, '127.0.0.1');
socket.setEncoding('latin1');
let pending = '';
const replies = [];
let wake = () => {};
socket.on('data', (text) => {
  pending += text;
  for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 2);
    if (line[3] !== '-') replies.push(line);
  }
  wake();
});
socket.on('close', () => wake());
async function reply() {
  while (replies.length === 0) {
    if (socket.destroyed) throw new Error('connection closed');
    await new Promise((resolve) => (wake = resolve));
  }
  return replies.shift();
}

await reply();
let commandBytes = 0;
for (const command of ['EHLO blast.example.org', 'MAIL FROM:<a@example.org>', 'RCPT TO:<b@example.org>', 'DATA']) {
  socket.write(`${command}\r\n`);
  commandBytes += command.length + 2;
  const answer = await reply();
  if (!/^(250|354)/.test(answer)) throw new Error(`${command}: ${answer}`);
}
const head = `Subject: ${megabytes} megabytes\r\n\r\n`;
socket.write(head);
const line = `${'0123456789'.repeat(7)}abcdefg\r\n`;
const block = Buffer.from(line.repeat(Math.floor(65_536 / line.length)));
let body = 0;
let waits = 0;
while (body < megabytes * 1024 * 1024) {
  if (!socket.write(block)) {
    waits++;
    await once(socket, 'drain');
  }
  body += block.length;
}
socket.write('.\r\n');
const final = await reply();
console.log(JSON.stringify({ reply: final, commandBytes, size: Buffer.byteLength(head) + body, waits }));
socket.end('QUIT\r\n');
