/**
 * The two ways a finishing transaction is recorded (src/delivery/deliver-entry.ts,
 * src/spool/finished-entries.ts), on their untested edges, with real
 * `bulkmailer flush` processes and a real smarthost on 127.0.0.1:
 *
 *  - the journal fails at the done line itself (its write refused: an
 *    LD_PRELOAD library, test/support/fsync-fault.ts, turned on when the
 *    smarthost has the message), so `finish()` answers false on the path
 *    that takes no state lock: the entry is removed at once, its removal
 *    being its record as before finished entries existed, and nothing is
 *    sent again (the kept journal's transaction line finds the entry gone);
 *  - a `hold` or `retry` rewrites the entry's state file while its
 *    transaction is in flight (run at the smarthost's final dot, before
 *    its reply): the lockless path, which needs the file to be the version
 *    the delivery holds, gives way to the locked one; no recipient is
 *    lost, held recipients stay held (the entry's next transaction is not
 *    started), nothing is sent twice; and which path ran is seen through
 *    the entry's state lock, which the test holds from the dot: the
 *    delivery of the rewritten entry waits for it before its next entry,
 *    that of an untouched one does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { smarthostAndHome } from '../support/smarthost-home.js';
import { BULKMAILER, runCli } from '../support/cli.js';
import { fsyncFaultForTests } from '../support/fsync-fault.js';
import {
  entryStateLockPath,
  enqueueMessage,
  listStateFileIdsIncludingFinished,
  openSpool,
  readEntryState,
  spoolLayout,
  tryLock,
  writeEntryState,
  type HeldLock,
} from '../../src/spool/index.js';

const fault = fsyncFaultForTests();

const message = (n: number) => `From: list@example.org\r\nSubject: post ${n}\r\nMessage-ID: <post-${n}@example.org>\r\n\r\nHello ${n}.\r\n`;

async function deliveryLog(home: string): Promise<{ id: string; recipient: string; status: string; possibleDuplicate?: boolean }[]> {
  const text = await fs.readFile(path.join(home, 'log', 'deliveries.jsonl'), 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l));
}

/** The lines of the spool's journals: each entry's id, or the id its done line names. */
async function journalLines(journal: string): Promise<{ id?: string; done?: string }[]> {
  const lines: { id?: string; done?: string }[] = [];
  for (const name of await fs.readdir(journal)) {
    const text = (await fs.readFile(path.join(journal, name), 'utf8')).replace(/\0+$/, '');
    for (const line of text.split('\n')) if (line !== '') lines.push(JSON.parse(line));
  }
  return lines;
}

test('the done line cannot be written (the journal fails at the finishing transaction): the entry is removed at once, its removal its record, and nothing is sent twice', async (t) => {
  const flag = path.join(fault.dir, `journal-writes-fail-${process.pid}`);
  t.after(() => fs.rm(flag, { force: true }));
  // The smarthost has the first message (its line durable before the dot): from here on the journal's writes fail.
  const { server, home } = await smarthostAndHome(t, { concurrency: 1 }, { dataReply: () => (writeFileSync(flag, ''), null) });
  const spool = await openSpool(home);
  const first = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['a@example.net', 'b@example.net'], message: message(1) });
  const second = await enqueueMessage(spool, { from: 'list@example.org', recipients: ['c@example.net'], message: message(2) });
  const env = fault.env(`${spool.journal}/`, flag, { writes: true });

  // Killed right after the finishing transaction is recorded: removed at once means gone by then.
  const crashed = await runCli(['flush'], { home, env: { ...env, BULKMAILER_CRASH_AT: 'flush-after-state-write' } });
  assert.equal(crashed.signal, 'SIGKILL', crashed.stdout + crashed.stderr);
  assert.deepEqual(server.dots, [['a@example.net', 'b@example.net']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [second.id], 'the delivered entry is removed at once, its removal its record');
  assert.deepEqual((await journalLines(spool.journal)).map((l) => [l.id ?? null, l.done ?? null]), [[first.id, null]], 'its transaction line, no done line');

  // Again without the kill (the kept journal recovered first: its entry is gone, nothing marked): the
  // journal fails at the second message's done line; the flush says so and keeps the journal.
  await fs.rm(flag);
  const failed = await runCli(['flush'], { home, env });
  assert.equal(failed.code, 74, failed.stdout + failed.stderr);
  assert.match(failed.stderr, /the transaction journal .*spool\/journal\/.*\.jsonl failed \(the delivered entries were removed: nothing lost\): input\/output error/);
  assert.doesNotMatch(failed.stderr, /internal error|\n\s+at |Unhandled|triggerUncaughtException/);
  assert.deepEqual(server.dots, [['a@example.net', 'b@example.net'], ['c@example.net']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'removed at once: no done line needed');

  await fs.rm(flag);
  const next = await runCli(['flush'], { home });
  assert.equal(next.code, 0, next.stdout + next.stderr);
  assert.equal(server.dots.length, 2, 'nothing sent again');
  assert.deepEqual(await fs.readdir(spool.journal), [], 'the kept journal was read and removed');
  const log = await deliveryLog(home);
  assert.deepEqual(log.map((l) => [l.recipient, l.status]).sort(), [['a@example.net', 'sent'], ['b@example.net', 'sent'], ['c@example.net', 'sent']]);
  assert.equal(log.filter((l) => l.possibleDuplicate).length, 0);
});

test('a hold or retry rewrites the state file while the entry\'s transaction is in flight: nothing lost, held recipients stay held, nothing sent twice', async (t) => {
  // At a transaction's final dot, before its reply, the command named for its first recipient runs (the flush waits for the reply meanwhile).
  const atDot = new Map<string, string[]>();
  const ran: { args: string[]; status: number | null; stdout: string; stderr: string }[] = [];
  let home = '';
  const { server, home: created } = await smarthostAndHome(
    t,
    { concurrency: 1, maxRecipientsPerTransaction: 2 },
    {
      dataReply: (_n, to) => {
        const args = atDot.get(to[0]!);
        if (args !== undefined) {
          const run = spawnSync(process.execPath, [BULKMAILER, ...args], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, encoding: 'utf8' });
          ran.push({ args, status: run.status, stdout: run.stdout, stderr: run.stderr });
        }
        return null;
      },
    },
  );
  home = created;
  const spool = await openSpool(home);
  const queue = (n: number, recipients: string[]) => enqueueMessage(spool, { from: 'list@example.org', recipients, message: message(n) });
  // One transaction, held during it: the transaction finishes the entry all the same (every recipient sent).
  const one = await queue(1, ['a1@example.net', 'b1@example.net']);
  // Two transactions, held during the first: the second is not started, its recipient stays held and pending.
  const held = await queue(2, ['a2@example.net', 'b2@example.net', 'c2@example.net']);
  // Two transactions, held during the second (the finishing one, on a state the delivery itself wrote).
  const last = await queue(3, ['a3@example.net', 'b3@example.net', 'c3@example.net']);
  // A deferred recipient due again: `retry` during its transaction rewrites the state (its next attempt time).
  const retried = await queue(4, ['x4@example.net']);
  await writeEntryState(spool, {
    ...retried.state,
    recipients: retried.state.recipients.map((r) => ({ ...r, status: 'deferred' as const, attempts: 1, lastReply: '451 4.3.0 later', nextAttemptAt: new Date(Date.now() - 60_000).toISOString() })),
  });
  atDot.set('a1@example.net', ['hold', one.id]);
  atDot.set('a2@example.net', ['hold', held.id]);
  atDot.set('c3@example.net', ['hold', last.id]);
  atDot.set('x4@example.net', ['retry', retried.id]);

  const flushed = await runCli(['flush'], { home });
  // Done: the held entry's last recipient is the user's to release, not a delivery left to do.
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.match(flushed.stdout, /recipients: 8 sent, 0 deferred, 0 failed/);
  assert.deepEqual(
    ran.map((r) => [r.args[0], r.status, r.stdout.trim()]),
    [
      ['hold', 0, `${one.id}: held`],
      ['hold', 0, `${held.id}: held`],
      ['hold', 0, `${last.id}: held`],
      ['retry', 0, `${retried.id}: 1 deferred recipient due now`],
    ],
    JSON.stringify(ran),
  );
  assert.deepEqual(server.dots, [
    ['a1@example.net', 'b1@example.net'],
    ['a2@example.net', 'b2@example.net'],
    ['a3@example.net', 'b3@example.net'],
    ['c3@example.net'],
    ['x4@example.net'],
  ]);
  // Every entry its transactions finished is gone; the held one keeps its unsent recipient, held.
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [held.id]);
  const state = await readEntryState(spool, held.id);
  assert.equal(state?.held, true);
  assert.deepEqual(state?.recipients.map((r) => [r.address, r.status, r.attempts]), [
    ['a2@example.net', 'sent', 1],
    ['b2@example.net', 'sent', 1],
    ['c2@example.net', 'pending', 0],
  ]);
  assert.deepEqual(await fs.readdir(spool.journal), []);
  const status = await runCli(['status', '--json'], { home });
  assert.deepEqual((JSON.parse(status.stdout) as { id: string; held: boolean }[]).map((e) => [e.id, e.held]), [[held.id, true]]);

  assert.equal((await runCli(['release', held.id], { home })).code, 0);
  const again = await runCli(['flush'], { home });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.deepEqual(server.dots.slice(5), [['c2@example.net']], 'the held recipient goes after release, and only it');
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), []);
  const log = await deliveryLog(home);
  const sent = log.filter((l) => l.status === 'sent').map((l) => l.recipient).sort();
  assert.deepEqual(sent, [...server.dots.flat()].sort(), 'each recipient logged once, as sent once');
  assert.equal(new Set(sent).size, sent.length);
  assert.equal(log.filter((l) => l.possibleDuplicate).length, 0);
});

/**
 * Resolves once a process other than this one has read the lock `file`
 * (a symbolic link): readlink updates its access time (relatime: while it
 * is not later than the link's change time), which is how the flusher's
 * wait for the lock is seen, with no clock involved: a waiting lockWithin
 * reads the link at each try. `stop` ends the watch.
 */
function whenLockRead(file: string): { read: Promise<void>; stop: () => void } {
  let stopped = false;
  const read = (async () => {
    while (!stopped) {
      const stat = await fs.lstat(file).catch(() => null);
      if (stat !== null && stat.atimeMs > stat.ctimeMs) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return { read, stop: () => (stopped = true) };
}

/** The precondition of whenLockRead: in `dir`, reading a link moves its access time (not so on a noatime mount). */
async function linkReadsMoveAccessTime(dir: string): Promise<boolean> {
  const probe = path.join(dir, `atime-probe-${process.pid}`);
  await fs.symlink('probe', probe);
  try {
    // The clock behind file times ticks coarsely: read again until a tick has passed (relatime keeps updating until then).
    for (let i = 0; i < 200; i++) {
      await fs.readlink(probe);
      const stat = await fs.lstat(probe);
      if (stat.atimeMs > stat.ctimeMs) return true;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return false;
  } finally {
    await fs.rm(probe, { force: true });
  }
}

test('which path records the finishing transaction, seen through the state lock held from its dot: after a hold rewrote the state the delivery waits for the lock (the locked path); on an untouched entry it goes on without it', async (t) => {
  // At the first entry's dot `hold` rewrites its state; at the first two entries' dots the test takes their
  // state locks. What the smarthost sees at each MAIL FROM: which of those locks the test still holds.
  // The rewritten entry's lock is released on an event, never on a timer: when the flusher is seen
  // reading it (waiting for it: the locked path), or at the next MAIL FROM (the flusher went on without
  // it: the lockless path, which the MAIL FROM's line then shows), so the result does not depend on speed.
  const locks = new Map<string, HeldLock>();
  const names = new Map<string, string>();
  const seen: string[] = [];
  let home = '';
  let rewritten = '';
  let untouched = '';
  let watch: { read: Promise<void>; stop: () => void } | null = null;
  const release = (id: string) => {
    locks.get(id)?.release();
    locks.delete(id);
  };
  const { server, home: created } = await smarthostAndHome(
    t,
    { concurrency: 1 },
    {
      dataReply: (_n, to) => {
        const id = to[0] === 'a1@example.net' ? rewritten : to[0] === 'a2@example.net' ? untouched : null;
        if (id === null) return null;
        if (id === rewritten) {
          const run = spawnSync(process.execPath, [BULKMAILER, 'hold', id], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, encoding: 'utf8' });
          seen.push(`hold: ${run.status} ${run.stdout.trim()}`);
        }
        const file = entryStateLockPath(spoolLayout(home), id);
        const taken = tryLock(file);
        if (taken.acquired) locks.set(id, taken.lock);
        else seen.push(`lock of ${names.get(id)} not taken`);
        if (taken.acquired && id === rewritten) {
          // The locked path waits for the lock (up to 10 s): released once the flusher is seen waiting.
          watch = whenLockRead(file);
          void watch.read.then(() => {
            if (!locks.has(id)) return;
            seen.push(`the delivery waits for ${names.get(id)}'s lock`);
            release(id);
          });
        }
        return null;
      },
      mailFromReply: (sender) => {
        seen.push(`${sender}: ${[...locks.keys()].map((id) => names.get(id)).join(' ') || 'no lock held'}`);
        // Reached without waiting for the rewritten entry's lock (the lockless path, seen in the line above): no need to hold it longer.
        if (sender === 'two@example.org') {
          watch?.stop();
          release(rewritten);
        }
        // The untouched entry's lock goes once the next entry has begun: its removal, at the batch's end, takes it.
        if (sender === 'three@example.org') release(untouched);
        return null;
      },
    },
  );
  home = created;
  t.after(() => {
    watch?.stop();
    [...locks.keys()].forEach(release);
  });
  const spool = await openSpool(home);
  const queue = (from: string, to: string) => enqueueMessage(spool, { from, recipients: [to], message: message(from.length) });
  rewritten = (await queue('one@example.org', 'a1@example.net')).id;
  untouched = (await queue('two@example.org', 'a2@example.net')).id;
  await queue('three@example.org', 'a3@example.net');
  names.set(rewritten, 'one').set(untouched, 'two');
  assert.ok(await linkReadsMoveAccessTime(path.dirname(entryStateLockPath(spool, rewritten))), 'reading a lock does not move its access time here (noatime?): this test cannot see the flusher wait');

  const flushed = await runCli(['flush'], { home });
  assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
  assert.deepEqual(seen, [
    'one@example.org: no lock held',
    `hold: 0 ${rewritten}: held`,
    "the delivery waits for one's lock", // the rewritten entry's delivery waited for its lock
    'two@example.org: no lock held',
    'three@example.org: two', // the untouched entry's did not take it
  ]);
  assert.deepEqual(server.dots, [['a1@example.net'], ['a2@example.net'], ['a3@example.net']]);
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), [], 'each finished and removed, the held one too');
});
