/**
 * The journal's one line reader (src/spool/journal-lines.ts), which
 * recovery and the done-line reader share: at every chunk size, the lines
 * it yields are exactly those of the definition recovery used when it
 * read the file whole (split at newlines, each cut at its first NUL,
 * empty ones dropped, a last line without its newline kept as it is),
 * with `keep` bounding the bytes kept and `length` still the whole
 * content's; and the file is closed when a loop over it stops early.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { journalLines } from '../../src/spool/journal-lines.js';
import { makeTempHome } from '../support/home.js';

/** The lines as recovery found them reading the file whole (before the shared reader): the reference. */
function wholeFileLines(bytes: Buffer): string[] {
  const lines: string[] = [];
  for (const raw of bytes.toString('latin1').split('\n')) {
    const nul = raw.indexOf('\0');
    const line = nul < 0 ? raw : raw.slice(0, nul);
    if (line !== '') lines.push(line);
  }
  return lines;
}

function streamed(file: string, chunkBytes: number, keep?: number): { text: string; length: number }[] {
  const lines: { text: string; length: number }[] = [];
  for (const line of journalLines(file, { chunkBytes, keep })) {
    assert.equal(line.kept, Math.min(line.length, keep ?? Infinity));
    lines.push({ text: line.bytes.toString('latin1', 0, line.kept), length: line.length });
  }
  return lines;
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  return home;
}

test('the lines of a journal, at every chunk size and keep: as the whole file split, cut at NULs, the torn last line kept', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'j.jsonl');
  const long = `{"id":"x","rcpt":[${Array.from({ length: 10 }, (_, i) => `["member-${i}@example.net",0]`).join(',')}]}`;
  const cases: Buffer[] = [
    Buffer.from(`{"a":1}\n{"done":"b"}\n\n\n${long}\n{"torn":`),
    // The preallocated zeros after the last line, and a NUL in a line's middle (the rest of that line is no content).
    Buffer.concat([Buffer.from(`{"a":1}\n${long}\nab\0cd\nef\n`), Buffer.alloc(300)]),
    Buffer.concat([Buffer.from(`${long}\n{"done":"c"}`), Buffer.alloc(5), Buffer.from('\nafter zeros\n')]),
    Buffer.from('\n\n\n'),
    Buffer.alloc(0),
    Buffer.from(`${long}`),
  ];
  for (const bytes of cases) {
    fs.writeFileSync(file, bytes);
    const expected = wholeFileLines(bytes);
    for (let chunk = 1; chunk <= bytes.length + 1; chunk++) {
      for (const keep of [undefined, 1, 14, 1000]) {
        const got = streamed(file, chunk, keep);
        const where = `chunk ${chunk}, keep ${keep}, case ${JSON.stringify(bytes.toString('latin1').slice(0, 30))}`;
        assert.deepEqual(got.map((l) => l.length), expected.map((l) => l.length), where);
        assert.deepEqual(got.map((l) => l.text), expected.map((l) => (keep === undefined ? l : l.slice(0, keep))), where);
      }
    }
  }
});

test('a loop that stops early closes the journal file', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'j.jsonl');
  fs.writeFileSync(file, 'one\ntwo\nthree\n');
  const open = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
  for (const line of journalLines(file)) {
    assert.equal(line.bytes.toString('latin1', 0, line.kept), 'one');
    assert.equal(open(), 1, 'open while read');
    break;
  }
  assert.equal(open(), 0, 'closed after the break');
  assert.throws(() => {
    for (const _ of journalLines(file)) throw new Error('the caller fails');
  }, /the caller fails/);
  assert.equal(open(), 0, 'closed after a throw');
  assert.throws(() => [...journalLines(path.join(dir, 'missing.jsonl'))], { code: 'ENOENT' });
});
