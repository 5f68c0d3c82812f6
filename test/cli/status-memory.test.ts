/**
 * status streams: on a 20,000-entry spool (5 recipients each) the real
 * command's peak resident set (VmHWM, read from /proc at its exit by a
 * preloaded hook) stays within a fixed margin of its peak on a 1,000-entry
 * spool, for the table and for --json. Loading every entry at once would
 * add tens of megabytes (the --json output alone is ~15 MB). And a large
 * drain's transaction journal (40 MB here, a few done lines among its
 * transaction lines) costs status no memory beyond a fixed margin: only
 * its done lines are picked out, a chunk at a time (reading it whole, as
 * before, added ~80 MB).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeTempHome, type TempHome } from '../support/home.js';
import { spoolLayout } from '../../src/spool/index.js';
import { BULKMAILER } from '../support/cli.js';
import { makeLargeSpool } from '../support/spool-fixtures.js';

const PRELOAD = fileURLToPath(new URL('../support/report-peak-rss.mjs', import.meta.url));
/** Allowed growth of the peak from 1,000 to 20,000 entries (measured: ~12 MB). */
const MARGIN_KB = 32 * 1024;

interface Measured {
  peakKb: number;
  ms: number;
  lines: number;
  code: number | null;
}

/** Runs bin/bulkmailer with the RSS hook; counts output lines without keeping the output. */
function measure(home: string, args: string[]): Promise<Measured> {
  const rssFile = path.join(home, `rss-${args.join('-')}.txt`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', PRELOAD, BULKMAILER, ...args], {
      env: { ...process.env, NO_COLOR: '1', BULKMAILER_HOME: home, BULKMAILER_TEST_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 10) lines++;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', async (code) => {
      clearTimeout(timer);
      const ms = Math.round(performance.now() - started);
      try {
        const peakKb = Number(await fs.readFile(rssFile, 'utf8'));
        assert.ok(peakKb > 0, `no peak RSS reported; stderr: ${stderr}`);
        resolve({ peakKb, ms, lines, code });
      } catch (err) {
        reject(err);
      }
    });
  });
}

describe('status on a 20,000-entry spool stays bounded in memory', () => {
  let small: TempHome;
  let large: TempHome;

  before(async () => {
    small = await makeTempHome();
    large = await makeTempHome();
    await makeLargeSpool(small.home, 1_000);
    await makeLargeSpool(large.home, 20_000);
  });
  after(async () => {
    await small?.cleanup();
    await large?.cleanup();
  });

  for (const args of [['status'], ['status', '--json']]) {
    test(`${args.join(' ')}: peak RSS at 20k entries within ${MARGIN_KB / 1024} MB of 1k`, async (t) => {
      const a = await measure(small.home, args);
      const b = await measure(large.home, args);
      assert.equal(a.code, 0);
      assert.equal(b.code, 0);
      // Every entry was listed: a header + rows + total + probe line, or "[" + rows + "]".
      assert.equal(b.lines, args.includes('--json') ? 20_002 : 20_003);
      const report = `peak RSS ${Math.round(a.peakKb / 1024)} MB at 1k (${a.ms} ms), ${Math.round(b.peakKb / 1024)} MB at 20k (${b.ms} ms)`;
      t.diagnostic(`${args.join(' ')}: ${report}`);
      assert.ok(b.peakKb - a.peakKb < MARGIN_KB, report);
    });
  }
});

describe('status beside a 40 MB transaction journal stays bounded in memory', () => {
  let home: TempHome;
  let ids: string[];

  before(async () => {
    home = await makeTempHome();
    ids = await makeLargeSpool(home.home, 1_000);
  });
  after(async () => {
    await home?.cleanup();
  });

  test('status --json: the entries named by the journal\'s done lines are not listed, and the peak RSS grows less than half the journal', async (t) => {
    const without = await measure(home.home, ['status', '--json']);
    assert.equal(without.code, 0);
    assert.equal(without.lines, 1_002);
    const journal = spoolLayout(home.home).journal;
    await fs.mkdir(journal, { recursive: true, mode: 0o700 });
    const handle = await fs.open(path.join(journal, `99999.1.${Date.now().toString(36)}.jsonl`), 'w', 0o600);
    const finished = ids.slice(0, 10);
    let size = 0;
    for (let block = 0; size < 40 * 1024 * 1024; block++) {
      let text = '';
      for (let k = 0; k < 1000; k++) {
        const id = ids[(block * 1000 + k) % ids.length]!;
        const rcpt = Array.from({ length: 5 }, (_, i) => [`member-${k}-${i}@example.net`, 0]);
        text += JSON.stringify({ id, at: new Date().toISOString(), rcpt }) + '\n';
      }
      if (block < finished.length) text += JSON.stringify({ done: finished[block] }) + '\n';
      size += (await handle.write(text)).bytesWritten;
    }
    await handle.write(Buffer.alloc(64 * 1024)); // the preallocated zeros
    await handle.close();
    const beside = await measure(home.home, ['status', '--json']);
    assert.equal(beside.code, 0);
    assert.equal(beside.lines, 1_002 - finished.length, 'the finished entries are not listed');
    const report = `peak RSS ${Math.round(without.peakKb / 1024)} MB without the journal, ${Math.round(beside.peakKb / 1024)} MB beside ${Math.round(size / 1024 / 1024)} MB of it`;
    t.diagnostic(report);
    assert.ok(beside.peakKb - without.peakKb < 20 * 1024, report);
  });
});
