/**
 * The learnt figures' records (src/spool/learnt-figures.ts) on a real spool
 * in a temp home, for every kind: read back as written, in the bytes
 * earlier releases wrote (existing spools keep their learnt figures),
 * separate per account and kind, an unreadable or foreign record read as
 * absent, all forgotten by `account remove`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { homeWithSpool } from '../support/spool-fixtures.js';
import { LEARNT_FIGURE_KINDS, type LearntFigureRecord } from '../../src/model/learnt-figure.js';
import { forgetAccountRecords, readLearntFigure, writeLearntFigure } from '../../src/spool/index.js';

const FILES = { recipients: 'rcpt', connections: 'conn' } as const;

test('each kind is kept in its own file, byte for byte as earlier releases kept it, per account', async (t) => {
  const { spool } = await homeWithSpool(t);
  for (const kind of LEARNT_FIGURE_KINDS) {
    assert.equal(readLearntFigure(spool, 'work', kind), null, `${kind}: none yet`);
    const record: LearntFigureRecord = { version: 1, account: 'work', max: 3, configured: 100, learnedAt: new Date(0).toISOString(), reply: `4xx ${kind}` };
    await writeLearntFigure(spool, kind, record);
    const file = path.join(spool.root, 'accounts', `work.${FILES[kind]}.json`);
    assert.equal(
      fs.readFileSync(file, 'utf8'),
      `{"version":1,"account":"work","max":3,"configured":100,"learnedAt":"1970-01-01T00:00:00.000Z","reply":"4xx ${kind}"}\n`,
      `${kind}: the bytes earlier releases wrote`,
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readLearntFigure(spool, 'work', kind), record);
    assert.equal(readLearntFigure(spool, 'other', kind), null, `${kind}: per account`);
  }
  assert.equal(readLearntFigure(spool, 'work', 'recipients')?.reply, '4xx recipients', 'the kinds do not mix');
  assert.equal(readLearntFigure(spool, 'work', 'connections')?.reply, '4xx connections');

  // A record an earlier release wrote (the Exchange Online refusal at AUTH) reads as it was.
  fs.writeFileSync(
    path.join(spool.root, 'accounts', 'old.conn.json'),
    '{"version":1,"account":"old","max":3,"configured":20,"learnedAt":"2026-11-30T12:00:00.000Z","reply":"432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"}\n',
    { mode: 0o600 },
  );
  assert.deepEqual(readLearntFigure(spool, 'old', 'connections'), {
    version: 1,
    account: 'old',
    max: 3,
    configured: 20,
    learnedAt: '2026-11-30T12:00:00.000Z',
    reply: '432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded',
  });
});

test('an unreadable or foreign record reads as absent (one more refusal, never mail); account remove forgets every kind', async (t) => {
  const { spool } = await homeWithSpool(t);
  const record: LearntFigureRecord = { version: 1, account: 'work', max: 3, configured: 100, learnedAt: new Date(0).toISOString(), reply: '452 4.5.3 Too many recipients' };
  for (const kind of LEARNT_FIGURE_KINDS) await writeLearntFigure(spool, kind, record);
  const rcpt = path.join(spool.root, 'accounts', 'work.rcpt.json');
  fs.writeFileSync(rcpt, '{torn');
  assert.equal(readLearntFigure(spool, 'work', 'recipients'), null, 'not JSON');
  fs.writeFileSync(rcpt, JSON.stringify({ ...record, account: 'club' }));
  assert.equal(readLearntFigure(spool, 'work', 'recipients'), null, "another account's record");
  fs.writeFileSync(rcpt, JSON.stringify({ ...record, max: 0 }));
  assert.equal(readLearntFigure(spool, 'work', 'recipients'), null, 'no figure below one');
  fs.writeFileSync(rcpt, JSON.stringify({ ...record, version: 2 }));
  assert.equal(readLearntFigure(spool, 'work', 'recipients'), null, 'a version it does not know');
  assert.deepEqual(readLearntFigure(spool, 'work', 'connections'), record, 'the other kind untouched');
  assert.equal(forgetAccountRecords(spool, 'work'), 2);
  for (const kind of LEARNT_FIGURE_KINDS) {
    assert.equal(fs.existsSync(path.join(spool.root, 'accounts', `work.${FILES[kind]}.json`)), false, kind);
  }
});
