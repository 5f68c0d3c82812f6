/**
 * The library API (src/index.ts, the package's main export): enqueue from a
 * Buffer, a string and a stream, durable and byte-exact; fixHeaders; -t
 * (Bcc removed even without fixHeaders); typed errors with sysexits codes;
 * listQueue oldest first.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import fs from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { BulkmailerError, enqueue, listQueue, type QueueEntry } from '../../src/index.js';
import { messagePath, openSpool } from '../../src/spool/index.js';
import { makeTempHome, type TempHome } from '../support/home.js';

const RAW = 'From: app@example.org\r\nTo: user@example.net\r\nSubject: from a program\r\n\r\nHello.\r\n';

describe('library API', () => {
  let temp: TempHome;
  before(async () => {
    temp = await makeTempHome();
  });
  after(() => temp.cleanup());

  it('enqueues a Buffer, a string and a stream, stored byte for byte, listed oldest first', async () => {
    const home = temp.home;
    const a = await enqueue({ home, from: 'app@example.org', to: 'user@example.net', message: Buffer.from(RAW) });
    const b = await enqueue({ home, from: 'app@example.org', to: ['u1@example.net', 'u2@example.net'], message: RAW });
    const c = await enqueue({
      home,
      from: '',
      to: ['user@example.net'],
      message: Readable.from([Buffer.from(RAW.slice(0, 10)), Buffer.from(RAW.slice(10))]),
    });
    const spool = await openSpool(home);
    for (const id of [a, b, c]) assert.equal(await fs.readFile(messagePath(spool, id), 'utf8'), RAW);
    const entries: QueueEntry[] = [];
    for await (const entry of listQueue({ home })) entries.push(entry);
    assert.deepEqual(entries.map((e) => e.id), [a, b, c].sort());
    const second = entries.find((e) => e.id === b);
    assert.deepEqual(second?.recipients.map((r) => [r.address, r.status]), [
      ['u1@example.net', 'pending'],
      ['u2@example.net', 'pending'],
    ]);
    assert.equal(entries.find((e) => e.id === c)?.from, '');
    assert.equal(second?.subject, 'from a program');
  });

  it('fixHeaders adds Date, Message-ID and From and removes Bcc; readRecipients reads them', async () => {
    const id = await enqueue({
      home: temp.home,
      from: 'app@example.org',
      to: [],
      readRecipients: true,
      fixHeaders: true,
      message: 'To: a@example.net\nBcc: b@example.net\nSubject: s\n\nbody\n',
    });
    const text = await fs.readFile(messagePath(await openSpool(temp.home), id), 'utf8');
    assert.match(text, /^To: a@example\.net\nSubject: s\nFrom: app@example\.org\nDate: .+\nMessage-ID: <.+@example\.org>\n\nbody\n$/);
  });

  it('readRecipients without fixHeaders still removes Bcc (as sendmail -t), leaving the rest as given', async () => {
    const id = await enqueue({
      home: temp.home,
      from: 'app@example.org',
      to: [],
      readRecipients: true,
      message: 'To: a@example.net\r\nBcc: hidden@example.net\r\nSubject: s\r\n\r\nbody\r\n',
    });
    const spool = await openSpool(temp.home);
    assert.equal(await fs.readFile(messagePath(spool, id), 'utf8'), 'To: a@example.net\r\nSubject: s\r\n\r\nbody\r\n');
    let entry: QueueEntry | undefined;
    for await (const e of listQueue({ home: temp.home })) if (e.id === id) entry = e;
    assert.deepEqual(entry?.recipients.map((r) => r.address), ['a@example.net', 'hidden@example.net']);
  });

  it('rejects with a BulkmailerError carrying a code and a sysexits exit code', async () => {
    await assert.rejects(
      enqueue({ home: temp.home, from: 'app@example.org', to: ['nope'], message: RAW }),
      (err: unknown) => err instanceof BulkmailerError && err.code === 'E_BAD_ADDRESS' && err.exitCode === 65,
    );
    await assert.rejects(
      enqueue({ home: temp.home, from: 'app@example.org', to: ['a@example.net'], message: RAW, maxSize: 10 }),
      (err: unknown) => err instanceof BulkmailerError && err.code === 'E_TOO_BIG',
    );
    await assert.rejects(
      enqueue({ home: temp.home, from: 'app@example.org', to: [], message: RAW }),
      (err: unknown) => err instanceof BulkmailerError && err.exitCode === 64,
    );
  });
});
