import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFailure, classifySuccess, E_TOO_MANY_SESSIONS, tooManySessions } from '../../src/delivery/classify-reply.js';
import { planTransactions } from '../../src/delivery/plan.js';
import { ENTRY_STATE_VERSION, newRecipientState } from '../../src/model/entry-state.js';
import { newQueueId } from '../../src/model/queue-id.js';

const to = ['a@x.org', 'b@x.org', 'c@x.org'];

test('per-recipient RCPT replies decide each recipient', () => {
  const outcomes = classifySuccess(to, {
    accepted: ['a@x.org'],
    rejected: ['b@x.org', 'c@x.org'],
    rejectedErrors: [
      { message: 'Recipient command failed', recipient: 'b@x.org', responseCode: 450, response: '450 4.2.1 mailbox busy', command: 'RCPT TO' },
      { message: 'Recipient command failed', recipient: 'c@x.org', responseCode: 550, response: '550 5.1.1 no such user', command: 'RCPT TO' },
    ],
    response: '250 2.0.0 queued as X',
  });
  assert.deepEqual(outcomes.map((o) => o.kind), ['sent', 'deferred', 'failed']);
  assert.equal(outcomes[0]?.reply, '250 2.0.0 queued as X');
  assert.equal(outcomes[2]?.reply, '550 5.1.1 no such user (in reply to RCPT TO)');
});

test('a reply to the final dot applies to every accepted recipient', () => {
  const err = { code: 'EMESSAGE', command: 'DATA', responseCode: 554, response: '554 5.7.1 spam', message: 'Message failed' };
  assert.deepEqual(classifyFailure(to, err, true).map((o) => o.kind), ['failed', 'failed', 'failed']);
  const temp = { ...err, responseCode: 451, response: '451 4.3.0 try again' };
  assert.deepEqual(classifyFailure(to, temp, true).map((o) => o.kind), ['deferred', 'deferred', 'deferred']);
});

test('all recipients rejected keeps each reply', () => {
  const err = {
    code: 'EENVELOPE',
    command: 'RCPT TO',
    responseCode: 450,
    response: '450 busy',
    message: "Can't send mail - all recipients were rejected",
    rejectedErrors: [
      { message: 'x', recipient: 'a@x.org', responseCode: 450, response: '450 busy' },
      { message: 'x', recipient: 'b@x.org', responseCode: 550, response: '550 unknown' },
      { message: 'x', recipient: 'c@x.org', responseCode: 450, response: '450 busy' },
    ],
  };
  assert.deepEqual(classifyFailure(to, err, false).map((o) => o.kind), ['deferred', 'failed', 'deferred']);
});

test('no reply at all is an interruption; after the envelope, a possible duplicate', () => {
  const lost = { code: 'ECONNECTION', command: 'CONN', message: 'Connection closed unexpectedly' };
  const before = classifyFailure(to, lost, false);
  assert.deepEqual(before.map((o) => [o.kind, o.possibleDuplicate]), to.map(() => ['interrupted', false]));
  const after = classifyFailure(to, lost, true);
  assert.ok(after.every((o) => o.possibleDuplicate && /possible duplicate/.test(o.reply)));
  assert.equal(classifyFailure(to, { code: 'EPROTOCOL', responseCode: 421, response: '421 closing', message: 'x' }, false)[0]?.kind, 'interrupted');
});

test('a message over the announced SIZE fails permanently', () => {
  const err = { code: 'EMESSAGE', command: 'MAIL FROM', message: 'Message size larger than allowed 1000' };
  assert.deepEqual(classifyFailure(to, err, false).map((o) => o.kind), ['failed', 'failed', 'failed']);
});

test('recipients are grouped by domain and cut by the per-transaction limit', () => {
  const addresses = ['z@b.org', 'a@c.org', 'y@a.org', 'x@b.org', 'w@a.org'];
  const state = {
    version: ENTRY_STATE_VERSION as typeof ENTRY_STATE_VERSION,
    id: newQueueId(),
    kind: 'message' as const,
    from: 's@x.org',
    createdAt: new Date().toISOString(),
    size: 1,
    subject: null,
    messageId: null,
    held: false,
    recipients: addresses.map(newRecipientState),
  };
  assert.deepEqual(planTransactions(state, Date.now(), 2), [['w@a.org', 'y@a.org'], ['x@b.org', 'z@b.org'], ['a@c.org']]);
  assert.deepEqual(planTransactions({ ...state, held: true }, Date.now(), 2), []);
});

test('a session refused as one connection too many keeps the reply that refused it on the error', () => {
  const cause = { message: 'Invalid login', code: 'EAUTH', command: 'AUTH PLAIN', response: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded', responseCode: 432 };
  const err = tooManySessions('smtp://mail.example:587', cause);
  assert.ok(err !== null);
  assert.equal(err.code, E_TOO_MANY_SESSIONS);
  assert.equal(err.reply, '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded');
  assert.equal(err.cause, cause);
  assert.equal(err.message, 'smtp://mail.example:587 refused one more connection: 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded');
  assert.equal(tooManySessions('smtp://mail.example:587', { message: 'x', response: '535 5.7.8 bad credentials' }), null, 'not about the count');
  assert.equal(tooManySessions('smtp://mail.example:587', new Error('ECONNRESET')), null, 'no reply at all');
});
