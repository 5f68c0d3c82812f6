/**
 * agent.syslog: the agent's log lines also reach syslog as RFC 5424
 * messages (facility mail, tag bulkmailer, PROCID the agent's pid) on the
 * configured socket. The socket is a real unix datagram socket in a temp
 * dir, bound by a small python3 receiver (Node has no unix datagram
 * sockets) that prints each datagram as a JSON line.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { killAll, startAgent } from './agent-process.js';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode("utf-8", "replace")), flush=True)
`;

let home: TempHome;
let server: CaptureServer;
let receiver: ChildProcess;
const datagrams: string[] = [];
let socketPath: string;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer();
  socketPath = path.join(home.home, 'log.sock');
  receiver = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    receiver.once('error', (err) => reject(new Error(`python3 is needed for this test's datagram socket: ${err.message}`)));
    let buffer = '';
    receiver.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') resolve();
        else datagrams.push(JSON.parse(line) as string);
      }
    });
  });
  await writeConfig(home.home, { smarthost: server.url, schedule: '0 0 1 1 *', agent: { syslog: true, syslogSocket: socketPath } });
});

after(async () => {
  await killAll();
  receiver.kill();
  await server.close();
  await home.cleanup();
});

test('with agent.syslog, the agent logs RFC 5424 messages to the syslog socket as well as to its log', async () => {
  const agent = startAgent(home.home);
  await agent.waitFor('ready');
  await agent.waitFor('flush-end', (e) => e.n === 1);
  // The datagrams arrive through logger(1): wait for them (an event), not for a time.
  const deadline = Date.now() + 20_000;
  while (!datagrams.some((d) => d.includes('flush #1')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const message = datagrams.find((d) => d.includes('agent started'));
  assert.ok(message, JSON.stringify(datagrams));
  // <22>: facility mail (2) * 8 + severity info (6); version 1; then timestamp, host, app, procid, msgid.
  assert.match(message, new RegExp(`^<22>1 \\d{4}-\\d\\d-\\d\\dT\\S+ \\S+ bulkmailer ${agent.pid} - .*agent started`));
  const text = message.slice(message.indexOf('agent started'));
  assert.ok(agent.lines.some((line) => line.endsWith(text)), 'the same text as the line in the log');
  assert.ok(datagrams.some((d) => / bulkmailer \d+ - .*flush #1 /.test(d)));
  assert.equal((await agent.stop('SIGTERM')).code, 0);
});
