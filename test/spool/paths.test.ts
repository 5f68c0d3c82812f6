/**
 * src/spool/paths.ts builds the per-entry paths (bucket directories, message,
 * state, temp files) by concatenation, for speed: each must be exactly the
 * path that path.join would build, for homes written in any form.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { allBuckets, bucketOf, newQueueId } from '../../src/model/queue-id.js';
import {
  messageBucketDir,
  messageDir,
  messagePath,
  spoolLayout,
  stateBucketDir,
  stateDir,
  statePath,
  parsePendingCommitName,
  pendingCommitPath,
  tmpPath,
} from '../../src/spool/paths.js';

test('the per-entry paths equal path.join of their parts, for every bucket and any form of home', () => {
  const homes = ['/home/ada/.local/share/bulkmailer', '/home/ada/mail/', '/srv//mail/./home', 'relative/home', '.', '/'];
  for (const home of homes) {
    const spool = spoolLayout(home);
    for (const bucket of allBuckets()) {
      assert.equal(messageBucketDir(spool, bucket), path.join(home, 'spool', 'msg', bucket));
      assert.equal(stateBucketDir(spool, bucket), path.join(home, 'spool', 'state', bucket));
      const id = newQueueId(Date.now(), bucket);
      assert.equal(bucketOf(id), bucket);
      assert.equal(messageDir(spool, id), path.join(home, 'spool', 'msg', bucket));
      assert.equal(stateDir(spool, id), path.join(home, 'spool', 'state', bucket));
      assert.equal(messagePath(spool, id), path.join(home, 'spool', 'msg', bucket, id));
      assert.equal(statePath(spool, id), path.join(home, 'spool', 'state', bucket, `${id}.json`));
      for (const suffix of ['msg', 'json', 'a1b2c3.state']) {
        assert.equal(tmpPath(spool, id, suffix), path.join(home, 'spool', 'tmp', `${id}.${process.pid}.${suffix}`));
      }
    }
  }
});

test('a pending commit\'s name carries the id, the writer\'s pid and boot, and the CRC-32, and reads back; no other tmp/ name passes for one', () => {
  const spool = spoolLayout('/home/ada/mail');
  const id = newQueueId(Date.now(), 'c');
  for (const boot of ['0a1b2c3d', 'unknown']) {
    for (const crc of [0, 0x0000_00ff, 0xcbf4_3926, 0xffff_ffff]) {
      const file = pendingCommitPath(spool, id, boot, crc);
      assert.equal(path.dirname(file), spool.tmp);
      assert.match(path.basename(file), /^[0-9a-z]+\.\d+\.([0-9a-f]{8}|unknown)\.[0-9a-f]{8}\.commit$/);
      assert.deepEqual(parsePendingCommitName(path.basename(file)), { id, pid: process.pid, boot, crc });
    }
  }
  // The other writers' temp names in tmp/ (enqueue's message, state rewrites, records) and near misses.
  for (const name of [
    `${id}.${process.pid}.msg`,
    `${id}.${process.pid}.a1b2c3.state`,
    `mx-cache_json.${process.pid}.a1b2c3.tmp`,
    `${id}.${process.pid}.cbf4392.commit`,
    `${id}.${process.pid}.cbf43926.commit`,
    `${id}.${process.pid}.0a1b2c3.cbf43926.commit`,
    `${id}.${process.pid}.other.cbf43926.commit`,
    `${id}.${process.pid}.CBF43926.commit`,
    `${id}.0.cbf43926.commit`,
    `${id}.x.cbf43926.commit`,
    `not-an-id.${process.pid}.cbf43926.commit`,
    `${id}.${process.pid}.cbf43926.commit.tmp`,
  ]) {
    assert.equal(parsePendingCommitName(name), null, name);
  }
});
