/**
 * Desktop notifications from the agent (issue 11, item 12): the real
 * `bulkmailer agent` process with a fake `notify-send` first on its PATH (a
 * script that records its arguments), against a real smarthost on
 * 127.0.0.1, followed through `agent --json` events. 300 bounced
 * recipients make one notification; a refused AUTH (the account held until
 * the user acts) makes a "needs attention" one; `notifications false`
 * makes none. The batcher's rate limit and the osascript form are checked
 * directly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { killAll, startAgent } from './agent-process.js';
import { enqueueMessage, openSpool } from '../../src/spool/index.js';
import { MIN_INTERVAL_MS, NotificationBatcher, type Notification } from '../../src/agent/notifications.js';
import { desktopNotifier } from '../../src/agent/desktop-notifier.js';

after(killAll);

/** A directory with a fake notify-send that appends its arguments (one JSON array per call) to `calls`. */
async function fakeNotifySend(dir: string): Promise<{ env: Record<string, string>; calls: () => Promise<string[][]> }> {
  const bin = path.join(dir, 'fake-bin');
  const log = path.join(dir, 'notify-send.calls');
  await fs.mkdir(bin);
  await fs.writeFile(
    path.join(bin, 'notify-send'),
    `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.argv.slice(2)) + '\\n');\n`,
    { mode: 0o755 },
  );
  return {
    env: { PATH: `${bin}:${process.env.PATH}` },
    calls: async () =>
      (await fs.readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as string[]),
  };
}

async function enqueueBouncing(home: string, messages: number, recipientsEach: number): Promise<void> {
  const spool = await openSpool(home);
  for (let i = 0; i < messages; i++) {
    const recipients = Array.from({ length: recipientsEach }, (_, k) => `gone${i}-${k}@example.test`);
    await enqueueMessage(spool, {
      from: 'list@example.test',
      recipients,
      message: `From: list@example.test\r\nSubject: post ${i}\r\n\r\nHello\r\n`,
      subject: `post ${i}`,
    });
  }
}

test('a flush that bounces 300 recipients of 30 messages makes one desktop notification', { skip: process.platform === 'win32' ? 'no notify-send on Windows' : false }, async (t) => {
  const server = await startCaptureServer({ rcptReply: () => ({ code: 550, message: '5.1.1 No such user' }) });
  t.after(() => server.close());
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const fake = await fakeNotifySend(home);
  await writeConfig(home, { smarthost: server.url, schedule: '0 0 1 1 *' });
  await enqueueBouncing(home, 30, 10);

  const agent = startAgent(home, fake.env);
  // The agent shows a flush's notifications before it reports the flush's end.
  await agent.waitFor('flush-end');
  assert.equal(agent.count('flush-end'), 1);
  assert.equal(agent.count('notification'), 1, 'one notification, from the one flush that bounced them');
  const { event } = await agent.waitFor('notification');
  assert.equal(event.title, 'bulkmailer: 30 messages bounced');
  assert.equal(event.error, null);
  assert.equal((await agent.stop('SIGTERM')).code, 0);
  const calls = await fake.calls();
  assert.equal(calls.length, 1, `one notification, not 30 or 300: ${JSON.stringify(calls)}`);
  assert.deepEqual(calls[0]!.slice(0, 4), ['--app-name=bulkmailer', '--urgency=normal', '--icon=mail-send', '--']);
  assert.equal(calls[0]![4], 'bulkmailer: 30 messages bounced');
  assert.match(calls[0]![5]!, /refused them for good; the sender got a report/);
});

test('a smarthost refusing AUTH: "needs attention", once; with notifications false, nothing', { skip: process.platform === 'win32' ? 'no notify-send on Windows' : false }, async (t) => {
  const server = await startCaptureServer({
    server: {
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(_auth, _session, callback) {
        const err = new Error('Authentication credentials invalid') as Error & { responseCode: number };
        err.responseCode = 535;
        callback(err);
      },
    },
  });
  t.after(() => server.close());
  for (const notifications of [true, false]) {
    const { home, cleanup } = await makeTempHome();
    t.after(cleanup);
    const fake = await fakeNotifySend(home);
    const url = server.url.replace('smtp://', 'smtp://ada:wrong@');
    await writeConfig(home, { smarthost: url, schedule: '0 0 1 1 *', notifications });
    await enqueueBouncing(home, 1, 1);
    const agent = startAgent(home, fake.env);
    const flushed = await agent.waitFor('flush-end');
    assert.equal(flushed.event.result?.outcome, 'held', agent.lines.join('\n'));
    assert.equal(agent.count('notification'), notifications ? 1 : 0, 'shown before the flush-end event');
    assert.equal((await agent.stop('SIGTERM')).code, 0);
    const calls = await fake.calls();
    if (!notifications) {
      assert.deepEqual(calls, [], 'notifications false: notify-send is never run');
      continue;
    }
    assert.equal(calls.length, 1);
    assert.equal(calls[0]![1], '--urgency=critical');
    assert.match(calls[0]![4]!, /^bulkmailer: smtp:\/\/ada@127\.0\.0\.1:\d+ needs attention$/);
    // The account stays held: later flushes find the same hold, and the same problem is not shown again.
    assert.match(calls[0]![5]!, /held until you act \(auth\): .*535 Authentication credentials invalid/);
    assert.match(calls[0]![5]!, /kept, not bounced/);
  }
});

test('the batcher: one notification per kind per burst, at most one per kind per interval, the rest counted into the next', async () => {
  const shown: Notification[] = [];
  let now = 1_000_000;
  const batcher = new NotificationBatcher({ notify: async (n) => void shown.push(n) }, () => now);
  for (let i = 0; i < 300; i++) batcher.add({ kind: 'bounced', id: `id${i % 30}`, subject: `post ${i}` });
  batcher.add({ kind: 'delayed', id: 'late', subject: 'Weekly news', waiting: 3 });
  await batcher.send();
  assert.deepEqual(shown.map((n) => n.title), ['bulkmailer: 30 messages bounced', 'bulkmailer: "Weekly news" is delayed']);

  batcher.add({ kind: 'bounced', id: 'later1', subject: 'x' });
  now += MIN_INTERVAL_MS - 1;
  await batcher.send();
  assert.equal(shown.length, 2, 'within the interval: held back');
  batcher.add({ kind: 'bounced', id: 'later2', subject: 'y' });
  now += 1;
  await batcher.send();
  assert.deepEqual(shown.slice(2).map((n) => n.title), ['bulkmailer: 2 messages bounced']);

  // The same account problem again: not repeated; a different one: shown (once the interval allows).
  batcher.add({ kind: 'account-attention', account: 'smtp.example.net', reason: '535 no' });
  await batcher.send();
  batcher.add({ kind: 'account-attention', account: 'smtp.example.net', reason: '535 no' });
  now += MIN_INTERVAL_MS;
  await batcher.send();
  assert.equal(shown.filter((n) => /needs attention/.test(n.title)).length, 1);

  // A notifier that fails is reported, not thrown.
  const errors: string[] = [];
  const failing = new NotificationBatcher({ notify: () => Promise.reject(new Error('notify-send not found')) }, () => now, (e) => errors.push(e.message));
  failing.add({ kind: 'held', id: 'h1', reason: 'a crash' });
  await failing.send();
  assert.deepEqual(errors, ['notify-send not found']);
});

test('macOS: osascript gets the text as arguments, never inside the script', async () => {
  const runs: { file: string; args: readonly string[] }[] = [];
  const notifier = desktopNotifier('darwin', async (file, args) => void runs.push({ file, args }));
  await notifier!.notify({ title: 'bulkmailer: "x" bounced', body: 'say "hi" & do shell script "rm"', urgency: 'normal' });
  assert.equal(runs[0]!.file, 'osascript');
  assert.deepEqual(runs[0]!.args.slice(-2), ['bulkmailer: "x" bounced', 'say "hi" & do shell script "rm"']);
  assert.ok(runs[0]!.args.slice(0, -2).every((a) => !a.includes('bounced')), 'the script itself holds no message text');
  assert.equal(desktopNotifier('win32'), null);
});
