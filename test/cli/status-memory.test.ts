/**
 * status streams: on a 20,000-entry spool (5 recipients each) the real
 * command, its V8 old generation capped at OLD_SPACE_MB and its young
 * generation at SEMI_SPACE_MB (flags in NODE_OPTIONS), lists every entry,
 * for the table and for --json, and exits 0. Streaming, it holds one entry
 * at a time and fits; a status that held every entry's state, or every
 * table row, before printing dies of "JavaScript heap out of memory" (V8
 * aborts: SIGABRT).
 *
 * Why a heap cap and not peak RSS (what this test compared until
 * 2026-12-01: the peak at 20k within 32 MB of the peak at 1k): RSS is what
 * the heap has grown to, not what is live, and how far V8 lets it grow
 * before marking finishes depends on the machine's load (its concurrent GC
 * threads starved): the same streaming status on Node 24 measured 73 MB at
 * 1k and 108 MB at 20k once under the full suite, 78-88 MB alone. Under a
 * cap V8 collects fully before it gives up, so whether the command fits
 * depends on what it holds live, not on timing. The young generation is
 * capped too so that what is held is promoted into the capped old
 * generation, whatever size V8 would grow the young one to (semi-spaces of
 * up to 64 MB on Node 24).
 *
 * Measured 2026-12-01 on Node 20.20, 22.23 and 24.22 (old generation cap,
 * semi-spaces of 1 MB): streaming status completes from 10 MB (9 on
 * Node 20); holding every table row dies at 14 to 18 MB (fits in 20 on
 * Node 20, in 24 on 22 and 24); holding every state dies at 16 to 24 MB
 * (the largest tried). OLD_SPACE_MB sits between.
 * If status one day legitimately needs more heap, raise it only as far as a
 * status that collects every state or row first still dies here.
 *
 * And a large drain's transaction journal (40 MB here, a few done lines
 * among its transaction lines) costs status no memory beyond a fixed
 * margin of peak RSS: only its done lines are picked out, a chunk at a
 * time (reading it whole, as before, added ~80 MB).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeTempHome, type TempHome } from '../support/home.js';
import { spoolLayout } from '../../src/spool/index.js';
import { BULKMAILER, runCli } from '../support/cli.js';
import { makeLargeSpool } from '../support/spool-fixtures.js';

const PRELOAD = fileURLToPath(new URL('../support/report-memory.mjs', import.meta.url));
const ENTRIES = 20_000;
/** The old generation's cap, MB (V8's --max-old-space-size): see above for why 14. */
const OLD_SPACE_MB = 14;
/** Each semi-space's cap, MB (--max-semi-space-size). */
const SEMI_SPACE_MB = 1;

interface Reported {
  heapSizeLimit: number;
  peakRssKb: number;
}

describe(`status on a ${ENTRIES.toLocaleString('en')}-entry spool streams (fits a ${OLD_SPACE_MB} MB heap)`, () => {
  let large: TempHome;
  let ids: string[];

  before(async () => {
    large = await makeTempHome();
    ids = await makeLargeSpool(large.home, ENTRIES);
  });
  after(async () => {
    await large?.cleanup();
  });

  for (const args of [['status'], ['status', '--json']]) {
    test(`${args.join(' ')} lists every entry with its old generation capped at ${OLD_SPACE_MB} MB`, async (t) => {
      const report = path.join(large.home, `memory-${args.join('-')}.json`);
      const result = await runCli(args, {
        home: large.home,
        timeoutMs: 120_000,
        env: {
          NODE_OPTIONS: `--max-old-space-size=${OLD_SPACE_MB} --max-semi-space-size=${SEMI_SPACE_MB} --import=${PRELOAD}`,
          BULKMAILER_TEST_MEMORY_FILE: report,
        },
      });
      // V8's own words ("... JavaScript heap out of memory") if it gave up, else the start of stderr.
      const why = /^FATAL ERROR:.*$/m.exec(result.stderr)?.[0] ?? result.stderr.slice(0, 600);
      const died = `status exited ${result.code ?? result.signal} under a ${OLD_SPACE_MB} MB heap (does it hold every entry?): ${why}`;
      assert.equal(result.signal, null, died);
      assert.equal(result.code, 0, died);
      assert.equal(result.stderr, '');

      // Both caps were in force: V8's limit is the old generation's plus three semi-spaces (17 MiB
      // here on Node 20, 22 and 24); without the semi-space cap it would be 62 MiB (208 on Node 24),
      // without the old generation's some GB.
      const measured = JSON.parse(await fs.readFile(report, 'utf8')) as Reported;
      assert.ok(measured.heapSizeLimit < 32 * 2 ** 20, `heap limit ${measured.heapSizeLimit} bytes: the caps were not applied`);
      t.diagnostic(`${args.join(' ')}: heap limit ${(measured.heapSizeLimit / 2 ** 20).toFixed(0)} MiB, peak RSS ${Math.round(measured.peakRssKb / 1024)} MB`);

      // Every entry was listed, once, oldest first.
      if (args.includes('--json')) {
        const listed = JSON.parse(result.stdout) as { id: string; recipients: unknown[] }[];
        assert.deepEqual(
          listed.map((e) => e.id),
          ids,
        );
        assert.ok(listed.every((e) => e.recipients.length === 5));
      } else {
        const lines = result.stdout.split('\n');
        // A header, a row per entry, the total, the probe line, and the final newline's empty string.
        assert.equal(lines.length, ENTRIES + 4);
        assert.deepEqual(
          lines.slice(1, ENTRIES + 1).map((line) => line.split(' ')[0]),
          ids,
        );
        assert.match(lines[ENTRIES + 1] ?? '', new RegExp(`^total: ${ENTRIES} entries .*${ENTRIES * 5} recipients: 0 sent, ${ENTRIES * 5} pending`));
      }
    });
  }
});

interface Measured {
  peakKb: number;
  lines: number;
  code: number | null;
}

/** Runs bin/bulkmailer with the memory report preloaded; counts output lines without keeping the output. */
function measure(home: string, args: string[]): Promise<Measured> {
  const reportFile = path.join(home, `memory-${args.join('-')}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', PRELOAD, BULKMAILER, ...args], {
      env: { ...process.env, NO_COLOR: '1', BULKMAILER_HOME: home, BULKMAILER_TEST_MEMORY_FILE: reportFile },
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
      try {
        const { peakRssKb } = JSON.parse(await fs.readFile(reportFile, 'utf8')) as Reported;
        assert.ok(peakRssKb > 0, `no peak RSS reported; stderr: ${stderr}`);
        resolve({ peakKb: peakRssKb, lines, code });
      } catch (err) {
        reject(err);
      }
    });
  });
}

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
