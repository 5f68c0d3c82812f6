/**
 * The agent with listener.enabled: it runs the SMTP listener too, and a
 * message accepted there (250 only after it is on disk) nudges the agent
 * and reaches the smarthost within seconds. SIGTERM closes both.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { flushEnded, killAll, spoolRecipients, startAgent } from './agent-process.js';

let home: TempHome;
let server: CaptureServer;

before(async () => {
  home = await makeTempHome();
  server = await startCaptureServer();
  await writeConfig(home.home, {
    smarthost: server.url,
    schedule: '0 0 1 1 *',
    listener: { enabled: true, host: '127.0.0.1', port: 0 },
  });
});

after(async () => {
  await killAll();
  await server.close();
  await home.cleanup();
});

test('listener inside the agent: SMTP in, smarthost out, promptly', async () => {
  const agent = startAgent(home.home);
  const { event: ready } = await agent.waitFor('ready');
  assert.equal(ready.listener?.host, '127.0.0.1');
  const port = ready.listener!.port;
  await agent.waitFor('flush-end', (e) => e.n === 1);

  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  const sentAt = performance.now();
  await transport.sendMail({
    envelope: { from: 'list@example.test', to: ['via-listener@example.test'] },
    raw: 'From: list@example.test\r\nTo: via-listener@example.test\r\nSubject: hi\r\n\r\nhello\r\n',
  });
  transport.close();
  await server.waitForMessages(1, 10_000);
  assert.ok(performance.now() - sentAt < 5_000);
  assert.deepEqual(server.messages[0]!.to, ['via-listener@example.test']);
  await agent.waitFor('flush-end', flushEnded('nudge', 'done', 1));

  assert.equal((await agent.stop('SIGTERM')).code, 0);
  assert.deepEqual(await spoolRecipients(home.home), []);
});
