/**
 * The start-up snapshot's node:crypto (src/frontends/sendmail/snapshot-
 * crypto.ts, random bytes from /dev/urandom): the functions behave as
 * Node's for the shapes the queueing path calls, and the snapshot script
 * built by `npm run build` takes them instead of loading Node's crypto
 * modules into its heap (Node's createHash only at its first call), nor
 * node:net's (loaded when there is an agent to nudge).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createHash, randomBytes, randomFillSync, randomInt } from '../../src/frontends/sendmail/snapshot-crypto.js';
import { ROOT } from '../support/cli.js';

test('randomBytes gives the bytes asked for, different each call', () => {
  for (const size of [0, 1, 8, 12, 256]) assert.equal(randomBytes(size).length, size);
  const seen = new Set(Array.from({ length: 50 }, () => randomBytes(16).toString('hex')));
  assert.equal(seen.size, 50);
});

test('randomFillSync fills the whole buffer it is given and returns it', () => {
  const bytes = Buffer.alloc(1024);
  assert.equal(randomFillSync(bytes), bytes);
  // 1,024 zero bytes left by a fill that stopped short would show as a long run of zeros.
  assert.ok(!bytes.includes(Buffer.alloc(16)), 'a run of 16 zero bytes');
  assert.notDeepEqual(randomFillSync(Buffer.alloc(64)), randomFillSync(Buffer.alloc(64)));
});

test('randomInt draws within [0, max) or [min, max), reaches every value, and refuses an empty or too wide range', () => {
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 2000; i++) {
    const v = randomInt(16);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 16, String(v));
    counts[v]!++;
  }
  assert.ok(counts.every((c) => c > 0), counts.join(' '));
  for (let i = 0; i < 200; i++) {
    const v = randomInt(5, 8);
    assert.ok(v >= 5 && v < 8, String(v));
  }
  assert.equal(randomInt(1), 0);
  const bad: [number, number?][] = [[0], [3, 3], [2 ** 33], [1.5]];
  for (const args of bad) assert.throws(() => randomInt(...args), RangeError, args.join(','));
});

test('createHash is Node\'s', () => {
  assert.equal(createHash('sha256').update('spool').digest('hex'), crypto.createHash('sha256').update('spool').digest('hex'));
});

test('the snapshot script takes these, and loads neither Node\'s crypto nor net when it is built', async () => {
  const script = await fs.readFile(path.join(ROOT, 'dist', 'bundle', 'sendmail', 'snapshot.cjs'), 'utf8');
  assert.match(script, /openSync\("\/dev\/urandom"/);
  // Only lazy loads, inside functions: no module-level `var x = __require("node:crypto")` or of node:net.
  assert.doesNotMatch(script, /=\s*(__toESM\()?__require\("node:(crypto|net)"\)/);
});
