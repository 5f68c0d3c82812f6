/**
 * Issue 11, item 9: small defects found by the fault campaign, each against
 * a real smarthost on 127.0.0.1 and a real spool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { startCaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { runCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, messagePath, openSpool, readEntryState, statePath } from '../../src/spool/index.js';

const body = 'From: list@example.org\r\nSubject: s\r\n\r\nHello.\r\n';

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  return { home, spool: await openSpool(home) };
}

test('an entry quarantined during a flush is not counted as still due: exit 0, the summary says it was quarantined', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url });
  const bad = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org', 'b@x.org'], message: body });
  await enqueueMessage(spool, { from: 'list@example.org', recipients: ['c@x.org'], message: body });
  // The message file vanishes: the flusher finds out only when it reads it, mid-flush.
  await fs.rm(messagePath(spool, bad.id));
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.doesNotMatch(result.stdout + result.stderr, /still due|left for the next flush|recipients? left/);
  assert.match(result.stdout + result.stderr, /1 entry quarantined/);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.equal(server.messages.length, 1);
});

test('a hand-edited state with an invalid address fails only that recipient; its valid co-recipient is delivered', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url });
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['good@x.org', 'other@x.org'], message: body });
  const file = statePath(spool, id);
  const state = JSON.parse(await fs.readFile(file, 'utf8'));
  state.recipients[1].address = 'bad<address>@x.org';
  await fs.writeFile(file, JSON.stringify(state));
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const delivered = server.messages.filter((m) => m.from === 'list@example.org');
  assert.deepEqual(delivered.map((m) => m.to), [['good@x.org']]);
  // The bad one failed (a DSN went to the sender), with a reply that says why.
  const dsn = server.messages.find((m) => m.from === '');
  assert.ok(dsn, 'a DSN reports the bad address');
  assert.match(dsn.raw.toString(), /bad<address>@x\.org/);
  assert.match(dsn.raw.toString(), /553 5\.1\.3/);
});

test('a 421 to one RCPT is labelled with the command it answered, not CONN', async (t) => {
  const server = await startCaptureServer({
    rcptReply: (address) => (address === 'b@x.org' ? { code: 421, message: 'Too many connections, try later' } : null),
  });
  t.after(() => server.close());
  const { home, spool } = await setup(t);
  await writeConfig(home, { smarthost: server.url });
  const { id } = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@x.org', 'b@x.org', 'c@x.org'], message: body });
  const result = await runCli(['flush'], { home });
  assert.equal(result.code, 75, result.stdout + result.stderr);
  const state = await readEntryState(spool, id);
  assert.ok(state);
  const replies = state.recipients.map((r) => r.lastReply ?? '');
  for (const reply of replies) assert.doesNotMatch(reply, /in reply to CONN/, reply);
  const b = state.recipients.find((r) => r.address === 'b@x.org');
  assert.match(b?.lastReply ?? '', /^421 .*\(in reply to RCPT TO\)/);
});
