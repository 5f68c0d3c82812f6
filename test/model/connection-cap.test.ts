/**
 * The pure rules of negative concurrency feedback (src/model/connection-cap.ts):
 * which replies refuse one more connection and what figure a refusal
 * teaches (when a kept figure applies: learnt-figure.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTooManyConnections, lowerConnections, namesConnectionLimit } from '../../src/model/connection-cap.js';

test('replies that refuse one more connection, and replies that do not', () => {
  for (const reply of [
    '421 4.7.0 Too many concurrent SMTP connections from this IP address; please try again later',
    '421 mx.example.org Service not available, closing transmission channel',
    '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded',
    '450 4.7.1 Too many connections, try again later',
    '451 too many sessions for this user',
    '454 4.7.0 Connection limit reached',
  ]) {
    assert.equal(isTooManyConnections(reply), true, reply);
  }
  for (const reply of [
    '432 4.7.12 A password transition is needed',
    '452 4.5.3 Too many recipients',
    '450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages',
    '550 5.7.1 Too many connections',
    '535 5.7.8 Authentication credentials invalid',
    '',
  ]) {
    assert.equal(isTooManyConnections(reply), false, reply);
  }
});

test('which refusals name the limit (kept for later flushes) and which may be passing (this flush only)', () => {
  assert.equal(namesConnectionLimit('432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded'), true);
  assert.equal(namesConnectionLimit('421 4.7.0 Too many concurrent SMTP connections from this IP address'), true);
  assert.equal(namesConnectionLimit('454 4.7.0 Connection limit reached'), true);
  assert.equal(namesConnectionLimit('421 mx.example.org Service not available, closing transmission channel'), false);
  assert.equal(namesConnectionLimit('421 4.7.28 Gmail has detected an unusual rate of mail; try again later'), false);
  assert.equal(namesConnectionLimit('550 5.7.1 Too many connections'), false, 'a permanent reply is not a count');
});

test('the figure a refusal teaches: the sessions that were open, never more than now, nothing when none were', () => {
  assert.equal(lowerConnections(10, 3), 3);
  assert.equal(lowerConnections(10, 1), 1);
  assert.equal(lowerConnections(3, 3), null, 'not lower: nothing new');
  assert.equal(lowerConnections(3, 5), null);
  assert.equal(lowerConnections(10, 0), null, 'no other session open: the refusal is not about the count');
});
