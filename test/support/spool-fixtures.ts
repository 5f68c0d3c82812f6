/**
 * Spools in known states for the CLI tests: entries in every recipient
 * state (written through the real enqueue, then their state rewritten with
 * the real state store), and large spools written directly as files (the
 * same bytes enqueue would write, without its fsyncs) so a 20,000-entry
 * spool takes seconds, not minutes.
 */
import fs from 'node:fs/promises';
import { newQueueId } from '../../src/model/queue-id.js';
import { ENTRY_STATE_VERSION, newRecipientState, serializeEntryState, type EntryState } from '../../src/model/entry-state.js';
import { enqueueMessage, messagePath, openSpool, statePath, writeEntryState, type Spool } from '../../src/spool/index.js';
import { makeTempHome } from './home.js';

export function messageText(subject: string, from = 'list@example.org'): string {
  return `From: ${from}\r\nTo: members@example.org\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\nHello.\r\n`;
}

export interface MixedSpool {
  spool: Spool;
  /** All pending, 3 recipients. */
  pending: string;
  /** 2 sent, 2 deferred until `deferredUntil`, 1 failed with a 550 reply, 1 pending. */
  mixed: string;
  /** Held, 2 pending. */
  held: string;
  /** A bounce (null sender, kind dsn), 1 deferred due now. */
  bounce: string;
  deferredUntil: string;
}

export async function makeMixedSpool(home: string, now = Date.now()): Promise<MixedSpool> {
  const spool = await openSpool(home);
  const deferredUntil = new Date(now + 90 * 60_000).toISOString();
  const pending = await enqueueMessage(spool, {
    from: 'list@example.org',
    recipients: ['a1@example.org', 'a2@example.org', 'a3@example.org'],
    message: messageText('Pending post'),
    subject: 'Pending post',
    messageId: '<pending@example.org>',
    now: now - 3 * 3_600_000,
  });
  const mixed = await enqueueMessage(spool, {
    from: 'list@example.org',
    recipients: ['s1@example.org', 's2@example.org', 'd1@example.net', 'd2@example.net', 'f1@example.com', 'p1@example.org'],
    message: messageText('Mixed post'),
    subject: 'Mixed post',
    messageId: '<mixed@example.org>',
    now: now - 2 * 3_600_000,
  });
  const attemptAt = new Date(now - 10 * 60_000).toISOString();
  await writeEntryState(spool, {
    ...mixed.state,
    recipients: mixed.state.recipients.map((r) => {
      if (r.address.startsWith('s')) return { ...r, status: 'sent', attempts: 1, lastAttemptAt: attemptAt, lastReply: '250 2.0.0 Ok: queued' };
      if (r.address.startsWith('d')) {
        return { ...r, status: 'deferred', attempts: 2, lastAttemptAt: attemptAt, nextAttemptAt: deferredUntil, lastReply: '451 4.7.1 Greylisted, try later', retryAgeMs: 600_000 };
      }
      if (r.address.startsWith('f')) {
        return { ...r, status: 'failed', attempts: 1, lastAttemptAt: attemptAt, lastReply: '550 5.1.1 No such user', dsnQueued: true };
      }
      return r;
    }),
  });
  const held = await enqueueMessage(spool, {
    from: 'news@example.org',
    recipients: ['h1@example.org', 'h2@example.org'],
    message: messageText('Held post', 'news@example.org'),
    subject: 'Held post',
    held: true,
    now: now - 3_600_000,
  });
  const bounce = await enqueueMessage(spool, {
    from: '',
    kind: 'dsn',
    recipients: ['list@example.org'],
    message: messageText('Undelivered Mail Returned to Sender', 'MAILER-DAEMON@example.org'),
    subject: 'Undelivered Mail Returned to Sender',
    now: now - 60_000,
  });
  await writeEntryState(spool, {
    ...bounce.state,
    recipients: bounce.state.recipients.map((r) => ({ ...r, status: 'deferred', attempts: 1, lastAttemptAt: attemptAt, nextAttemptAt: null, lastReply: 'connection lost' })),
  });
  return { spool, pending: pending.id, mixed: mixed.id, held: held.id, bounce: bounce.id, deferredUntil };
}

/**
 * Writes `count` entries of `recipientsEach` pending recipients straight into
 * msg/ and state/ (valid files, as enqueue leaves them). Returns the ids.
 */
export async function makeLargeSpool(home: string, count: number, recipientsEach = 5): Promise<string[]> {
  const spool = await openSpool(home);
  const ids: string[] = [];
  const start = Date.now() - count * 10;
  const body = messageText('Large spool post');
  const batch: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const id = newQueueId(start + i * 10);
    ids.push(id);
    const state: EntryState = {
      version: ENTRY_STATE_VERSION,
      id,
      kind: 'message',
      from: 'list@example.org',
      createdAt: new Date(start + i * 10).toISOString(),
      size: body.length,
      subject: `Post number ${i} with a subject long enough to be truncated in the table`,
      messageId: `<post${i}@example.org>`,
      held: false,
      recipients: Array.from({ length: recipientsEach }, (_, k) => newRecipientState(`member${k}.${i}@example.org`)),
    };
    batch.push(
      fs
        .writeFile(messagePath(spool, id), body, { mode: 0o600 })
        .then(() => fs.writeFile(statePath(spool, id), serializeEntryState(state), { mode: 0o600 })),
    );
    if (batch.length >= 200) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return ids;
}

/** Queues `n` list posts from list@example.org (one recipient each unless `recipients` says); answers their ids. */
export async function queuePosts(
  spool: Spool,
  n: number,
  recipients: (i: number) => string[] = (i) => [`member${i}@d${i % 5}.example.net`],
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await enqueueMessage(spool, { from: 'list@example.org', recipients: recipients(i), message: messageText(`post ${i}`) })).id);
  }
  return ids;
}

/** A fresh home with its spool open, removed after the test. */
export async function homeWithSpool(t: { after: (fn: () => Promise<void>) => void }): Promise<{ home: string; spool: Spool }> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  return { home, spool: await openSpool(home) };
}
