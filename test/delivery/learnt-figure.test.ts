/**
 * One learnt figure during a flush (src/delivery/learnt-figure.ts), the
 * same for every kind: opened from the account's setting and what the
 * spool keeps, lowered (never raised) with a warning, written for later
 * flushes unless the refusal may be passing, forgotten once the setting
 * changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homeWithSpool } from '../support/spool-fixtures.js';
import { LearntFigure } from '../../src/delivery/learnt-figure.js';
import { readLearntFigure } from '../../src/spool/index.js';

const NOW = Date.parse('2026-11-30T12:00:00.000Z');

test('recipients per transaction: lowered by a 452, said, kept, and where a later flush starts', async (t) => {
  const { spool } = await homeWithSpool(t);
  const account = { name: 'work', maxRecipientsPerTransaction: 100, concurrency: 20 };
  const figure = LearntFigure.open(spool, account, 'recipients', () => NOW);
  assert.equal(figure.current, 100, 'the setting, nothing learnt yet');
  const warnings: string[] = [];
  assert.equal(await figure.lower(3, '452 4.5.3 Too many recipients (in reply to RCPT TO)', (w) => warnings.push(w)), true);
  assert.equal(figure.current, 3);
  assert.deepEqual(warnings, ['account work: the smarthost takes 3 recipients per transaction (452 4.5.3 Too many recipients (in reply to RCPT TO)); sending 3 at a time from now on']);
  assert.equal(await figure.lower(5, '452 4.5.3 x', (w) => warnings.push(w)), false, 'never raised');
  assert.equal(figure.current, 3);
  assert.equal(warnings.length, 1);
  assert.deepEqual(readLearntFigure(spool, 'work', 'recipients'), {
    version: 1,
    account: 'work',
    max: 3,
    configured: 100,
    learnedAt: '2026-11-30T12:00:00.000Z',
    reply: '452 4.5.3 Too many recipients (in reply to RCPT TO)',
  });
  assert.equal(readLearntFigure(spool, 'work', 'connections'), null, 'the other kind untouched');
  assert.equal(LearntFigure.open(spool, account, 'recipients', () => NOW).current, 3, 'a later flush starts from it');
  assert.equal(LearntFigure.open(spool, account, 'connections', () => NOW).current, 20);
  assert.equal(LearntFigure.open(spool, { ...account, maxRecipientsPerTransaction: 50 }, 'recipients', () => NOW).current, 50, 'a changed setting forgets it');
});

test('connections at once: kept when the reply names the limit, for this flush only when it may be passing', async (t) => {
  const { spool } = await homeWithSpool(t);
  const account = { name: 'work', maxRecipientsPerTransaction: 100, concurrency: 10 };
  const passing = LearntFigure.open(spool, account, 'connections', () => NOW);
  const warnings: string[] = [];
  assert.equal(await passing.lower(4, '421 Service not available', (w) => warnings.push(w), 'a bare 421 may be passing'), true);
  assert.equal(passing.current, 4);
  assert.deepEqual(warnings, ['account work: the smarthost takes 4 connections at once (421 Service not available); using 4 for this flush (a bare 421 may be passing: not kept)']);
  assert.equal(readLearntFigure(spool, 'work', 'connections'), null, 'nothing written');
  assert.equal(await passing.lower(3, '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded', (w) => warnings.push(w)), true);
  assert.equal(warnings[1], 'account work: the smarthost takes 3 connections at once (432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded); using 3 from now on');
  assert.equal(readLearntFigure(spool, 'work', 'connections')?.max, 3);
  assert.equal(LearntFigure.open(spool, account, 'connections', () => NOW).current, 3);
});

test('lessons that come together: the lowest is the one on disk', async (t) => {
  const { spool } = await homeWithSpool(t);
  const figure = LearntFigure.open(spool, { name: 'work', maxRecipientsPerTransaction: 100, concurrency: 20 }, 'connections', () => NOW);
  const results = await Promise.all([8, 5, 6, 2].map((n) => figure.lower(n, `432 4.3.2 at ${n}`, () => {})));
  assert.deepEqual(results, [true, true, false, true]);
  assert.equal(figure.current, 2);
  assert.equal(readLearntFigure(spool, 'work', 'connections')?.max, 2);
  assert.equal(readLearntFigure(spool, 'work', 'connections')?.reply, '432 4.3.2 at 2');
});
