/**
 * The drain benchmarks' shared run (bench/spool-and-flush.ts, used by
 * bench/drain.ts and bench/mx-drain.ts), at a size a test can afford: the
 * messages it spools reach a capture smarthost on 127.0.0.1 through the
 * real `bulkmailer flush`, each to the recipients asked for, the flush's
 * exit code is answered, `afterFlush` sees the home before it goes, and the
 * home is removed afterwards, also when the flush could not deliver.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import { test } from 'node:test';
import { spoolAndFlush } from '../../bench/spool-and-flush.js';
import { listStateFileIdsIncludingFinished, openSpool } from '../../src/spool/index.js';
import { startCaptureServer } from '../support/capture-server.js';

test('spoolAndFlush: spools N messages, one real flush delivers them to the recipients asked for, the home goes afterwards', async (t) => {
  const server = await startCaptureServer();
  t.after(() => server.close());
  let seen: string | undefined;
  const drained = await spoolAndFlush({
    config: { smarthost: `smtp://127.0.0.1:${server.port}`, concurrency: 2 },
    messages: 3,
    size: 200,
    recipientsOf: (i) => [`a${i}@example.net`, `b${i}@example.org`],
    afterFlush: async (home) => {
      seen = home;
      return (await listStateFileIdsIncludingFinished(await openSpool(home))).length;
    },
  });
  assert.equal(drained.code, 0);
  assert.equal(drained.after, 0, 'nothing left in the spool after the flush');
  assert.ok(drained.rate > 0 && drained.flushMs > 0 && drained.enqueueMs > 0);
  assert.deepEqual(server.messages.map((m) => [...m.to].sort().join(' ')).sort(), [0, 1, 2].map((i) => `a${i}@example.net b${i}@example.org`));
  for (const m of server.messages) assert.match(m.raw.toString(), /^Subject: bench \d$/m);
  assert.ok(seen !== undefined);
  await assert.rejects(fs.access(seen), { code: 'ENOENT' }, 'the bench home is removed');
});

test('spoolAndFlush: a flush that reaches no smarthost answers its exit code (75), and the home still goes', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  let seen: string | undefined;
  const drained = await spoolAndFlush({
    config: { smarthost: `smtp://127.0.0.1:${port}` },
    messages: 1,
    size: 100,
    recipientsOf: () => ['a@example.net'],
    afterFlush: async (home) => {
      seen = home;
      return (await listStateFileIdsIncludingFinished(await openSpool(home))).length;
    },
  });
  assert.equal(drained.code, 75);
  assert.equal(drained.after, 1, 'the message still queued');
  assert.ok(seen !== undefined);
  await assert.rejects(fs.access(seen), { code: 'ENOENT' });
});
