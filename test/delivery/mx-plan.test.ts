/**
 * Planning direct delivery (src/delivery/mx-plan.ts), on a real spool in a
 * temp home for the destinations' health: each bin keeps, per entry, the
 * recipients it delivers (those of its domains, due and routed to mx), so
 * an entry whose recipients sit in several bins gives each bin only its
 * own; a destination down keeps its recipients out of every bin; DNS's
 * answers go to the DNS bin, and so does an entry with nothing due.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planMxBins, DNS_BIN } from '../../src/delivery/mx-plan.js';
import { DestinationHealth } from '../../src/delivery/destination-health.js';
import type { MxAnswer } from '../../src/mx/resolve-mx.js';
import { openSpool } from '../../src/spool/index.js';
import { makeTempHome } from '../support/home.js';

const hosts = (name: string, address: string): MxAnswer => ({
  kind: 'hosts',
  hosts: [{ name, preference: 10, addresses: [address] }],
  implicit: false,
  ttl: 300,
});

const ZONE: Record<string, MxAnswer> = {
  // Two domains served by one destination share its bin.
  'a.example': hosts('mx.shared.example', '127.0.0.2'),
  'b.example': hosts('mx.shared.example', '127.0.0.2'),
  'c.example': hosts('mx.c.example', '127.0.0.3'),
  'down.example': hosts('mx.down.example', '127.0.0.4'),
  'gone.example': { kind: 'nxdomain', ttl: 300 },
};

test('each bin keeps per entry exactly the recipients it delivers; a destination down keeps its own out', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const health = DestinationHealth.load(await openSpool(home));
  const now = Date.now();
  health.markDown('mx.down.example', 'mx.down.example', 'refused', now, { backoffStartMs: 60_000, backoffFactor: 2, backoffMaxMs: 600_000, lifetimeMs: 86_400_000 });
  const plan = await planMxBins(
    [
      { id: 'E1', recipients: ['x@a.example', 'y@c.example', 'z@b.example', 'w@gone.example', 'v@down.example'] },
      { id: 'E2', recipients: ['u@c.example'] },
      // Nothing due but a bounce to queue.
      { id: 'E3', recipients: [] },
    ],
    async (domain) => ZONE[domain]!,
    health,
    now,
  );
  const byKey = new Map(plan.bins.map((b) => [b.key, b]));
  assert.deepEqual([...byKey.keys()], [DNS_BIN, 'mx.shared.example', 'mx.c.example'], 'the DNS bin first; no bin for the destination down');
  const recipientsOf = (key: string) => Object.fromEntries(byKey.get(key)!.recipients);
  assert.deepEqual(recipientsOf('mx.shared.example'), { E1: ['x@a.example', 'z@b.example'] });
  assert.deepEqual(recipientsOf('mx.c.example'), { E1: ['y@c.example'], E2: ['u@c.example'] });
  assert.deepEqual(recipientsOf(DNS_BIN), { E1: ['w@gone.example'], E3: [] });
  for (const bin of plan.bins) assert.deepEqual(bin.entries, [...bin.recipients.keys()], `${bin.key}: each entry once, in queue order`);
  assert.deepEqual(plan.waiting.map((w) => [w.key, w.recipients]), [['mx.down.example', 1]]);
});
