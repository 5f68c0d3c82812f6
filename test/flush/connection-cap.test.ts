/**
 * Negative concurrency feedback (Postfix's term) through the real flush
 * engine against a real SMTP server on 127.0.0.1 that caps connections at
 * once: a connection beyond the cap is refused at its greeting (421, or
 * Exchange Online's 432 4.3.2). The account's figure comes down to the
 * number of sessions that were open, the refused sessions' mail goes to the
 * others with no attempt counted, the figure is kept for later flushes
 * (spool/accounts/NAME.conn.json), shown by `account show` and `status`,
 * forgotten when the user changes the account's concurrency, and climbs
 * back by one an hour since it was learnt (lowered again by the next
 * refusal).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startCaptureServer, type Reply } from '../support/capture-server.js';
import { writeConfig } from '../support/home.js';
import { homeWithSpool, messageText } from '../support/spool-fixtures.js';
import { runCli } from '../support/cli.js';
import { enqueueMessage, listStateFileIdsIncludingFinished, readLearntFigure, writeLearntFigure, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

async function queue(spool: Spool, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await enqueueMessage(spool, {
      from: 'list@example.org',
      recipients: [`${tag}${i}-a@d1.example`, `${tag}${i}-b@d2.example`],
      message: messageText(`${tag} ${i}`),
    });
  }
}

/** One flush of `home`, with the warnings it said. */
async function flushWithWarnings(home: string) {
  const warnings: string[] = [];
  const events = new FlushEvents();
  events.on('warning', (w) => warnings.push(w));
  return { result: await flushQueue({ home, events }), warnings };
}

async function logLines(home: string): Promise<Array<Record<string, unknown>>> {
  const text = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * A server that refuses AUTH (as Exchange Online refuses the fourth SMTP
 * AUTH connection of a mailbox) while `limit` authenticated sessions are
 * open. Counted at AUTH, so the flush's probe (a greeting, then closed)
 * never counts: the figure to learn is exactly `limit`.
 */
async function authCappedServer(t: { after: (fn: () => Promise<void>) => void }, limit: number, reply: Reply) {
  const authed = new Set<string>();
  let refused = 0;
  let most = 0;
  const server = await startCaptureServer({
    server: {
      authOptional: false,
      allowInsecureAuth: true,
      onAuth(auth, session, callback) {
        if (authed.size >= limit) {
          refused++;
          const err = new Error(reply.message) as Error & { responseCode: number };
          err.responseCode = reply.code;
          return callback(err);
        }
        authed.add(session.id);
        most = Math.max(most, authed.size);
        callback(null, { user: auth.username });
      },
      onClose(session) {
        authed.delete(session.id);
      },
    },
  });
  t.after(() => server.close());
  return { server, refused: () => refused, most: () => most };
}

for (const reply of [
  { code: 432, message: '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' },
  { code: 421, message: '4.7.0 Too many concurrent SMTP connections; try again later' },
] satisfies Reply[]) {
  test(`AUTH refused with ${reply.code} while 3 sessions are open: the account uses 3, nothing counted, kept, shown, forgotten on change`, async (t) => {
    const { server, refused, most } = await authCappedServer(t, 3, reply);
    const { home, spool } = await homeWithSpool(t);
    await writeConfig(home, { smarthost: server.url, concurrency: 10, auth: { user: 'me@example.org', pass: 'secret' } });
    await queue(spool, 40, 'm');

    const { result: first, warnings } = await flushWithWarnings(home);
    assert.equal(first.outcome, 'done', JSON.stringify(first));
    assert.equal(first.sent, 80);
    assert.equal(first.deferred, 0, 'a refused connection defers nobody');
    assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'everything went in this flush, over the sessions that remained');
    assert.ok(refused() >= 1, 'the server refused at least one session');
    assert.equal(most(), 3);
    assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
    const log = await logLines(home);
    assert.equal(log.length, 80);
    assert.deepEqual([...new Set(log.map((l) => l.attempts))], [1], 'one attempt each: the refusal counted nothing');
    assert.ok(warnings.some((w) => w.startsWith(`account default: the smarthost takes 3 connections at once (${reply.code} `)), warnings.join('\n'));
    const record = readLearntFigure(spool, 'default', 'connections');
    assert.deepEqual({ ...record, learnedAt: 'x', reply: 'x' }, { version: 1, account: 'default', max: 3, configured: 10, learnedAt: 'x', reply: 'x' });
    assert.ok(record!.reply.startsWith(`${reply.code} ${reply.message.slice(0, 5)}`), record!.reply);

    // Shown where the user looks.
    const show = await runCli(['account', 'show', 'default'], { home });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^ {2}concurrency: 10 \\(the smarthost takes 3: it refused one more connection with "${reply.code} `, 'm'));
    const showJson = JSON.parse((await runCli(['account', 'show', 'default', '--json'], { home })).stdout) as Record<string, unknown>;
    assert.equal(showJson.learntConcurrency, 3);
    await queue(spool, 1, 'w');
    const status = await runCli(['status'], { home });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /account default: 3 connections at once, not 10 \(the smarthost refused one more with "/);

    // A later flush starts from it: no session refused at all.
    await queue(spool, 20, 'n');
    const refusedBefore = refused();
    const second = await flushQueue({ home });
    assert.equal(second.outcome, 'done');
    assert.equal(second.sent, 42);
    assert.equal(refused(), refusedBefore, 'the second flush opened no connection too many');

    // Changing the setting forgets it.
    const set = await runCli(['config', 'set', 'concurrency', '2'], { home });
    assert.equal(set.code, 0, set.stderr);
    const after = await runCli(['account', 'show', 'default'], { home });
    assert.match(after.stdout, /^ {2}concurrency: 2$/m);
  });
}

test('the kept figure climbs back by one an hour: used as kept within the hour, one more per hour after, lowered again by the next refusal', async (t) => {
  // The provider takes 4 now (another client of the mailbox has closed): the figure was learnt at 2.
  const { server, refused, most } = await authCappedServer(t, 4, { code: 432, message: '4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded' });
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 10, auth: { user: 'me@example.org', pass: 'secret' } });
  const hour = 60 * 60 * 1000;
  const learnt = (ago: number) =>
    writeLearntFigure(spool, 'connections', { version: 1, account: 'default', max: 2, configured: 10, learnedAt: new Date(Date.now() - ago).toISOString(), reply: '432 4.3.2 x' });

  await learnt(hour / 2);
  await queue(spool, 40, 'a');
  const within = await flushQueue({ home });
  assert.equal(within.outcome, 'done');
  assert.equal(most(), 2, 'within the hour: the kept figure');
  assert.equal(refused(), 0);

  await learnt(5 * hour + 60_000);
  await queue(spool, 40, 'b');
  const { result: later, warnings } = await flushWithWarnings(home);
  assert.equal(later.outcome, 'done', JSON.stringify(later));
  assert.equal(later.sent, 80);
  assert.equal(later.deferred, 0, 'the refused connection defers nobody');
  assert.equal(most(), 4, 'five hours later it tried 2 + 5 = 7 and the provider took 4');
  assert.ok(refused() >= 1);
  assert.ok(warnings.some((w) => w.startsWith('account default: the smarthost takes 4 connections at once (432 ')), warnings.join('\n'));
  const record = readLearntFigure(spool, 'default', 'connections')!;
  assert.equal(record.max, 4, 'lowered again by the refusal, and kept');
  assert.ok(Date.now() - Date.parse(record.learnedAt) < hour, 'the climb starts again from this lesson');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
});

test('432 4.3.2 to MAIL FROM on a fourth session (Exchange Online): the account uses 3, the refused mail goes to the other sessions, nothing counted', async (t) => {
  // Sessions that have had their MAIL FROM taken, up to 3 at once; a MAIL FROM on any other session is refused.
  const admitted = new Set<string>();
  let refused = 0;
  const server = await startCaptureServer({
    server: {
      onMailFrom(_address, session, callback) {
        if (!admitted.has(session.id) && admitted.size >= 3) {
          refused++;
          const err = new Error('4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded') as Error & { responseCode: number };
          err.responseCode = 432;
          return callback(err);
        }
        admitted.add(session.id);
        callback();
      },
      onClose(session) {
        admitted.delete(session.id);
      },
    },
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 8 });
  await queue(spool, 30, 'm');
  const result = await flushQueue({ home });
  assert.equal(result.outcome, 'done', JSON.stringify(result));
  assert.equal(result.sent, 60);
  assert.equal(result.deferred, 0, 'nobody deferred: the refusal was about the session');
  assert.ok(refused >= 1, 'the server refused at least one session');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
  assert.deepEqual([...new Set((await logLines(home)).map((l) => l.attempts))], [1], 'the refusals counted nothing');
  const record = readLearntFigure(spool, 'default', 'connections');
  assert.equal(record?.max, 3, JSON.stringify(record));
  assert.equal(record?.configured, 8);
  assert.match(record!.reply, /^432 4\.3\.2 STOREDRV\.ClientSubmit.*\(in reply to MAIL FROM\)$/, 'the reply as it came, with the command it answered');
});

test('421 at the greeting beyond 3 connections: the account comes down to the sessions open, everything goes, nothing counted', async (t) => {
  const server = await startCaptureServer({ maxConnections: { limit: 3, reply: { code: 421, message: '4.7.0 Too many connections from your host' } } });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 10 });
  await queue(spool, 40, 'm');
  const first = await flushQueue({ home });
  assert.equal(first.outcome, 'done', JSON.stringify(first));
  assert.equal(first.sent, 80);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  assert.ok(server.refusedConnections >= 1);
  assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
  assert.deepEqual([...new Set((await logLines(home)).map((l) => l.attempts))], [1], 'the refusals counted nothing');
  // The figure is the sessions that were open: 3 (2 if the probe's closed connection was still counted by the server).
  const record = readLearntFigure(spool, 'default', 'connections');
  assert.ok(record !== null && record.max >= 2 && record.max <= 3, JSON.stringify(record));
  assert.match(record.reply, /^421 4\.7\.0 Too many connections/);
  const refusedBefore = server.refusedConnections;
  await queue(spool, 10, 'n');
  assert.equal((await flushQueue({ home })).outcome, 'done');
  assert.equal(server.refusedConnections, refusedBefore, 'the next flush stays within the figure');
});

test('a bare 421 at the greeting beyond 3 connections lowers the figure for this flush only: everything goes, nothing kept', async (t) => {
  const server = await startCaptureServer({ maxConnections: { limit: 3, reply: { code: 421, message: 'mx.example.org Service not available, closing transmission channel' } } });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 10 });
  await queue(spool, 40, 'm');
  const warnings: string[] = [];
  const events = new FlushEvents();
  events.on('warning', (message: string) => warnings.push(message));
  const first = await flushQueue({ home, events });
  assert.equal(first.outcome, 'done', JSON.stringify(first));
  assert.equal(first.sent, 80);
  assert.ok(server.refusedConnections >= 1);
  assert.ok([...server.deliveriesByRecipient().values()].every((n) => n === 1), 'nothing sent twice');
  assert.deepEqual([...new Set((await logLines(home)).map((l) => l.attempts))], [1], 'the refusals counted nothing');
  assert.ok(warnings.some((w) => /for this flush \(a bare 421 may be passing: not kept\)/.test(w)), warnings.join('\n'));
  assert.equal(readLearntFigure(spool, 'default', 'connections'), null, 'a bare 421 is not kept for later flushes');
});

test('a connection refused with 421 when no other session is open teaches nothing: the smarthost counts as gone, nothing counted', async (t) => {
  // The probe's connection (the first) is greeted; every session after it is refused.
  let seen = 0;
  const server = await startCaptureServer({
    server: {
      onConnect(_session, callback) {
        if (seen++ === 0) return callback();
        const err = new Error('4.7.0 Too many connections') as Error & { responseCode: number };
        err.responseCode = 421;
        callback(err);
      },
    },
  });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  await writeConfig(home, { smarthost: server.url, concurrency: 4 });
  await queue(spool, 3, 'm');
  const result = await flushQueue({ home });
  assert.notEqual(result.outcome, 'done');
  assert.equal(server.messages.length, 0);
  assert.equal(readLearntFigure(spool, 'default', 'connections'), null, 'no figure learnt from a server that took no connection');
  const ids = await listStateFileIdsIncludingFinished(spool);
  assert.equal(ids.length, 3, 'everything waits');
  const log = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8').catch(() => '');
  assert.equal(log, '', 'no recipient became final');
});

test('a session refused as one too many costs nothing against a sending limit: the limit holds exactly the mail that fits', async (t) => {
  const server = await startCaptureServer({ maxConnections: { limit: 2, reply: { code: 421, message: '4.7.0 Too many connections from your host' } } });
  t.after(() => server.close());
  const { home, spool } = await homeWithSpool(t);
  // Room for exactly the 8 recipients queued; 4 sessions asked for, 2 taken.
  await writeConfig(home, { smarthost: server.url, concurrency: 4, limits: '8rcpt/hour' });
  await queue(spool, 4, 'm');
  const result = await flushQueue({ home });
  assert.ok(server.refusedConnections >= 1, 'the server refused a session');
  assert.equal(result.sent, 8, JSON.stringify(result));
  assert.equal(result.outcome, 'done', 'no hold by the limit: the refused sessions reserved nothing');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
});
