/**
 * src/message/dsn.ts: the RFC 3464 bounce is a well-formed message whatever
 * the original Subject (non-ASCII, very long, control characters), labels
 * its 8-bit parts, and takes the enhanced status code from where the reply
 * puts it, not from an IP address later in the text.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDsn, headerBlock, statusOf } from '../../src/message/dsn.js';
import { decodeEncodedWords } from '../../src/message/encoded-words.js';
import { findHeader } from '../../src/message/header-fields.js';
import { splitMessageHead } from '../../src/message/split-head.js';
import { newRecipientState, ENTRY_STATE_VERSION, type EntryState, type RecipientState } from '../../src/model/entry-state.js';

function failedRecipient(address: string, lastReply: string): RecipientState {
  return { ...newRecipientState(address), status: 'failed', attempts: 1, lastReply, lastAttemptAt: '2025-03-04T05:06:07.000Z' };
}

function entryWithSubject(subject: string | null): EntryState {
  return {
    version: ENTRY_STATE_VERSION,
    id: '0mx1rl36i6fyothr3',
    kind: 'message',
    from: 'ada@example.org',
    createdAt: '2025-03-04T05:00:00.000Z',
    size: 100,
    subject,
    messageId: '<m1@example.org>',
    held: false,
    recipients: [],
  };
}

function dsnFor(subject: string | null, failed: RecipientState[]): string {
  return buildDsn({
    entry: entryWithSubject(subject),
    failed,
    originalHeaders: headerBlock(Buffer.from('Subject: x\r\nTo: b@example.net\r\n\r\nbody\r\n')),
    reportingMta: 'laptop.example.org',
    remoteMta: 'smtp.example.net',
    now: Date.parse('2025-03-04T06:00:00Z'),
  });
}

describe('DSN', () => {
  it('keeps its header 7-bit with lines under 998 octets whatever the original Subject', async () => {
    const subject = `Grüße ✓ ${'long words '.repeat(200)}\u0000end`;
    const text = dsnFor(subject, [failedRecipient('b@example.net', '550 5.1.1 no such user')]);
    const head = text.slice(0, text.indexOf('\r\n\r\n') + 2);
    for (const line of head.split('\r\n')) {
      assert.ok(Buffer.byteLength(line) <= 998, `header line of ${Buffer.byteLength(line)} octets`);
      // eslint-disable-next-line no-control-regex
      assert.match(line, /^[\x20-\x7e\t]*$/, `not 7-bit printable: ${JSON.stringify(line.slice(0, 60))}`);
    }
    const shown = decodeEncodedWords(findHeader((await splitMessageHead(Buffer.from(`${head}\r\n`))).fields, 'Subject')?.value.replace(/\r\n/g, '') ?? '');
    assert.ok(shown.startsWith('Undelivered Mail Returned to Sender (Grüße ✓ long words'), shown);
  });

  it('labels the parts that may carry 8-bit text as 8bit', () => {
    const text = dsnFor('Grüße', [failedRecipient('b@example.net', '550 5.1.1 no such user')]);
    const parts = text.split(/\r\n--bulkmailer-dsn-[0-9a-f]+(?:--)?\r\n/).slice(1);
    const textPart = parts.find((p) => p.startsWith('Content-Type: text/plain'));
    const headersPart = parts.find((p) => p.startsWith('Content-Type: text/rfc822-headers'));
    assert.match(textPart ?? '', /^Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n/);
    assert.match(headersPart ?? '', /^Content-Type: text\/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\n/);
  });

  it('takes the enhanced status code right after the reply code, not from later text', () => {
    assert.equal(statusOf(failedRecipient('b@example.net', '550 5.1.1 <b@example.net>: no such user')), '5.1.1');
    assert.equal(statusOf(failedRecipient('b@example.net', '550-5.7.1 blocked')), '5.7.1');
    assert.equal(statusOf(failedRecipient('b@example.net', '554 rejected: client 2.3.4.5 listed')), '5.0.0');
    assert.equal(statusOf(failedRecipient('b@example.net', 'expired after 9 attempts; last reply: 451 4.7.1 try later')), '4.4.7');
  });
});
