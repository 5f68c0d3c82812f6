import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTooManyRecipients, lowerCap, splitTooManyRecipients } from '../../src/model/recipient-cap.js';
import type { RecipientOutcome } from '../../src/model/transitions.js';

/** An outcome as classify-reply.ts makes it: the command the reply answered, which its text also names. */
const rcpt = (address: string, reply: string, kind: RecipientOutcome['kind'] = 'deferred'): RecipientOutcome => ({
  address,
  kind,
  reply,
  command: /\(in reply to ([A-Z ]+)\)$/.exec(reply)![1]!,
});
const sent = (address: string): RecipientOutcome => ({ address, kind: 'sent', reply: '250 2.0.0 Ok: queued' });

test('"too many recipients" is a 452 to RCPT with 4.5.3, or its words, or after accepted recipients; not 4.2.2 or other commands', () => {
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 4.5.3 Too many recipients (in reply to RCPT TO)'), 0), true);
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 Too many recipients received this hour (in reply to RCPT TO)'), 0), true);
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 try later (in reply to RCPT TO)'), 3), true, 'RFC 5321: a 452 after accepted RCPTs');
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 try later (in reply to RCPT TO)'), 0), false);
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 4.2.2 Mailbox full (in reply to RCPT TO)'), 3), false, 'another cause');
  assert.equal(isTooManyRecipients(rcpt('a@x', '452 4.3.1 Insufficient system storage (in reply to MAIL FROM)'), 0), false);
  assert.equal(isTooManyRecipients(rcpt('a@x', '552 5.5.3 Too many recipients (in reply to RCPT TO)', 'failed'), 0), false);
  // The command is nodemailer's field, not words in the reply.
  assert.equal(isTooManyRecipients({ address: 'a@x', kind: 'deferred', reply: '452 4.5.3 Too many recipients', command: 'RCPT TO' }, 0), true);
  assert.equal(isTooManyRecipients({ address: 'a@x', kind: 'deferred', reply: '452 4.5.3 Too many recipients (in reply to RCPT TO)', command: 'DATA' }, 0), false);
});

test('the figure learnt: what the server accepted; half when it accepted none; null when it cannot go lower', () => {
  assert.equal(lowerCap(10, 3), 3);
  assert.equal(lowerCap(10, 0), 5);
  assert.equal(lowerCap(1, 0), null);
  assert.equal(lowerCap(3, 3), null);
  const outcomes = [sent('a@x'), sent('b@x'), rcpt('c@x', '550 5.1.1 unknown (in reply to RCPT TO)', 'failed'), rcpt('d@x', '452 4.5.3 Too many recipients (in reply to RCPT TO)'), rcpt('e@x', '452 4.5.3 Too many recipients (in reply to RCPT TO)')];
  const split = splitTooManyRecipients(outcomes, 5);
  assert.deepEqual(split.putOff, ['d@x', 'e@x']);
  assert.deepEqual(split.standing.map((o) => o.address), ['a@x', 'b@x', 'c@x']);
  assert.deepEqual(split.learnt, { max: 2, reply: '452 4.5.3 Too many recipients (in reply to RCPT TO)' }, 'the figure, and the first put-off reply that taught it');
  const alone = splitTooManyRecipients([rcpt('a@x', '452 4.5.3 Too many recipients (in reply to RCPT TO)')], 1);
  assert.deepEqual(alone.putOff, [], 'one recipient refused as too many: an ordinary deferral, or it would loop');
  assert.equal(alone.standing.length, 1);
  const amid = splitTooManyRecipients([sent('a@x'), rcpt('b@x', '452 try later (in reply to RCPT TO)'), sent('c@x')], 3);
  assert.deepEqual(amid.putOff, [], 'a bare 452 amid accepted recipients is that recipient\'s deferral');
  assert.equal(amid.learnt, null);
  const bareTail = splitTooManyRecipients([sent('a@x'), sent('b@x'), rcpt('c@x', '452 try later (in reply to RCPT TO)')], 3);
  assert.deepEqual(bareTail.putOff, ['c@x'], 'a bare 452 to the last RCPTs after accepted ones: too many');
  assert.deepEqual(bareTail.learnt, { max: 2, reply: '452 try later (in reply to RCPT TO)' });
});
