/**
 * The plan-then-change case of the flush tests: one entry for x and y
 * with x greylisted an hour ago (not due, so the plan counts and routes y
 * only), flushed with x retried (made due) by the real CLI after the first
 * pass's plan and before the entry's delivery.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BULKMAILER } from './cli.js';
import { messageText } from './spool-fixtures.js';
import { enqueueMessage, writeEntryState, type Spool } from '../../src/spool/index.js';
import { flushQueue } from '../../src/flush/flush.js';
import { FlushEvents } from '../../src/flush/flush-events.js';

export async function flushWithRetryAfterPlan(home: string, spool: Spool, x: string, y: string, from = 'me@home.example') {
  const queued = await enqueueMessage(spool, { from, recipients: [x, y], message: messageText('planned') });
  const later = new Date(Date.now() + 3_600_000).toISOString();
  await writeEntryState(spool, {
    ...queued.state,
    recipients: queued.state.recipients.map((r) =>
      r.address === x
        ? { ...r, status: 'deferred', attempts: 1, lastAttemptAt: new Date().toISOString(), nextAttemptAt: later, lastReply: '451 4.7.1 Greylisted', retryAgeMs: 60_000 }
        : r,
    ),
  });
  const events = new FlushEvents();
  let retried = false;
  events.on('start', ({ pass }: { pass: number }) => {
    if (pass !== 0) return;
    execFileSync(process.execPath, [BULKMAILER, 'retry', queued.id], { env: { ...process.env, BULKMAILER_HOME: home, NO_COLOR: '1' }, stdio: 'pipe' });
    retried = true;
  });
  const result = await flushQueue({ home, events });
  assert.equal(retried, true);
  return result;
}
