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
