/**
 * The learnt figures' shared part (src/model/learnt-figure.ts): the table of
 * kinds, and when a kept figure applies, the same for every kind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveFigure, LEARNT_FIGURE_KINDS, LEARNT_FIGURES, type LearntFigureRecord } from '../../src/model/learnt-figure.js';

test('a kept figure applies only while the setting is the one it was learnt under, and is at least one', () => {
  const connections: LearntFigureRecord = { version: 1, account: 'a', max: 3, configured: 10, learnedAt: '2026-11-30T00:00:00.000Z', reply: '432 4.3.2 x' };
  assert.equal(effectiveFigure(10, null), 10);
  assert.equal(effectiveFigure(10, connections), 3);
  assert.equal(effectiveFigure(20, connections), 20, 'the user changed the setting: forgotten');
  assert.equal(effectiveFigure(10, { ...connections, max: 0 }), 1, 'at least one');
  assert.equal(effectiveFigure(10, { ...connections, max: 15 }), 10, 'never above the setting');
  const recipients: LearntFigureRecord = { ...connections, max: 3, configured: 100, reply: '452 4.5.3 Too many recipients' };
  assert.equal(effectiveFigure(100, recipients), 3);
  assert.equal(effectiveFigure(50, recipients), 50, 'a changed setting forgets the lesson');
  assert.equal(effectiveFigure(100, null), 100);
});

test('the table of kinds: the record files existing spools hold, one file and one setting per kind', () => {
  assert.deepEqual(LEARNT_FIGURE_KINDS, ['recipients', 'connections']);
  assert.deepEqual(LEARNT_FIGURE_KINDS.map((k) => LEARNT_FIGURES[k].file), ['rcpt', 'conn'], 'spool/accounts/NAME.rcpt.json and NAME.conn.json, as before');
  assert.deepEqual(LEARNT_FIGURE_KINDS.map((k) => LEARNT_FIGURES[k].setting), ['maxRecipientsPerTransaction', 'concurrency']);
});
