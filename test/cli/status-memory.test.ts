/**
 * status streams: on a 20,000-entry spool (5 recipients each) the real
 * command's peak resident set (VmHWM, read from /proc at its exit by a
 * preloaded hook) stays within a fixed margin of its peak on a 1,000-entry
 * spool, for the table and for --json. Loading every entry at once would
 * add tens of megabytes (the --json output alone is ~15 MB).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeTempHome, type TempHome } from '../support/home.js';
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
