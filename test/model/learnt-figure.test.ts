/**
 * The learnt figures' shared part (src/model/learnt-figure.ts): the table of
 * kinds, and when a kept figure applies, the same for every kind; which
 * kinds climb back by themselves, and how fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { effectiveFigure, LEARNT_FIGURE_KINDS, LEARNT_FIGURES, type LearntFigureRecord } from '../../src/model/learnt-figure.js';

const LEARNT = Date.parse('2026-11-30T00:00:00.000Z');
const HOUR = 60 * 60 * 1000;

test('a kept figure applies only while the setting is the one it was learnt under, and is at least one', () => {
  const connections: LearntFigureRecord = { version: 1, account: 'a', max: 3, configured: 10, learnedAt: '2026-11-30T00:00:00.000Z', reply: '432 4.3.2 x' };
  assert.equal(effectiveFigure('connections', 10, null, LEARNT), 10);
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT), 3);
  assert.equal(effectiveFigure('connections', 20, connections, LEARNT), 20, 'the user changed the setting: forgotten');
  assert.equal(effectiveFigure('connections', 10, { ...connections, max: 0 }, LEARNT), 1, 'at least one');
  assert.equal(effectiveFigure('connections', 10, { ...connections, max: 15 }, LEARNT), 10, 'never above the setting');
  const recipients: LearntFigureRecord = { ...connections, max: 3, configured: 100, reply: '452 4.5.3 Too many recipients' };
  assert.equal(effectiveFigure('recipients', 100, recipients, LEARNT), 3);
  assert.equal(effectiveFigure('recipients', 50, recipients, LEARNT), 50, 'a changed setting forgets the lesson');
  assert.equal(effectiveFigure('recipients', 100, null, LEARNT), 100);
});

test('connections at once climb back by one an hour since the lesson, up to the setting; recipients per transaction stay', () => {
  const connections: LearntFigureRecord = { version: 1, account: 'a', max: 3, configured: 10, learnedAt: new Date(LEARNT).toISOString(), reply: '432 4.3.2 x' };
  assert.equal(LEARNT_FIGURES.connections.recoversEveryMs, HOUR);
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT + HOUR - 1), 3, 'not within the first hour');
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT + HOUR), 4);
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT + 5 * HOUR + 1), 8);
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT + 30 * HOUR), 10, 'never above the setting');
  assert.equal(effectiveFigure('connections', 10, connections, LEARNT - 5 * HOUR), 3, 'a clock set back climbs nothing');
  assert.equal(effectiveFigure('connections', 10, { ...connections, learnedAt: 'garbled' }, LEARNT + 5 * HOUR), 3, 'an unreadable time climbs nothing');
  const recipients: LearntFigureRecord = { ...connections, configured: 100, reply: '452 4.5.3 Too many recipients' };
  assert.equal(LEARNT_FIGURES.recipients.recoversEveryMs, null);
  assert.equal(effectiveFigure('recipients', 100, recipients, LEARNT + 30 * HOUR), 3, "a server's recipients per transaction is its configuration");
});

test('the table of kinds: the record files existing spools hold, one file and one setting per kind', () => {
  assert.deepEqual(LEARNT_FIGURE_KINDS, ['recipients', 'connections']);
  assert.deepEqual(LEARNT_FIGURE_KINDS.map((k) => LEARNT_FIGURES[k].file), ['rcpt', 'conn'], 'spool/accounts/NAME.rcpt.json and NAME.conn.json, as before');
  assert.deepEqual(LEARNT_FIGURE_KINDS.map((k) => LEARNT_FIGURES[k].setting), ['maxRecipientsPerTransaction', 'concurrency']);
});
