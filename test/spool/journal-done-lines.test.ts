/**
 * The done lines read for the queue's readers (src/spool/journal-done-lines.ts):
 * exactly the ids of the done lines among many transaction lines, whatever
 * the chunk boundaries cut (a done line split across two chunks, one byte
 * per chunk), a torn last line, the preallocated zeros, lines that only
 * look like done lines; listEntryIds (the queued view) and isFinishedEntry
 * on a real spool; a journal that cannot be read (a directory in its
 * place) failing the listing and the commands on it with 74;
 * and the memory of reading a 40 MB journal (a child process on the built
 * dist/: its peak RSS grows far less than the file, which reading it whole,
 * as before, cannot do).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { newQueueId } from '../../src/model/queue-id.js';
import { readDoneIds } from '../../src/spool/journal-done-lines.js';
import { enqueueMessage, isFinishedEntry, listEntryIds, listStateFileIdsIncludingFinished, openSpool, readEntryState, type Spool } from '../../src/spool/index.js';
import { BulkmailerError } from '../../src/errors.js';
import { ROOT, collect, runCli } from '../support/cli.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { messageText } from '../support/spool-fixtures.js';

function transactionLine(id: string, n: number): string {
  const rcpt = Array.from({ length: 5 }, (_, i) => [`someone-${n}-${i}@example.net`, n % 3]);
  return JSON.stringify({ id, at: new Date(1_700_000_000_000 + n).toISOString(), rcpt }) + '\n';
}

const doneLine = (id: string) => JSON.stringify({ done: id }) + '\n';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  return home;
}

function idsOf(file: string, chunkBytes?: number): string[] {
  const ids: string[] = [];
  readDoneIds(file, (id) => ids.push(id), chunkBytes);
  return ids;
}

test('a journal of many transaction lines and a few done lines gives exactly the done ids, at any chunk size', async (t) => {
  const dir = await tempDir(t);
  const done = Array.from({ length: 5 }, () => newQueueId());
  let text = '';
  for (let n = 0; n < 400; n++) {
    text += transactionLine(newQueueId(), n);
    if (n % 97 === 13) text += doneLine(done[(n - 13) / 97]!);
  }
  text += doneLine(done[4]!);
  const file = path.join(dir, 'j.jsonl');
  // The preallocated zeros after the last line, as a journal has them.
  fs.writeFileSync(file, Buffer.concat([Buffer.from(text), Buffer.alloc(3000)]));
  for (const chunk of [1, 2, 7, 13, 21, 31, 64, 1000, 65536]) {
    assert.deepEqual(idsOf(file, chunk), done, `chunk of ${chunk} bytes`);
  }
});

test('a done line split at every possible chunk boundary is found once', async (t) => {
  const dir = await tempDir(t);
  const id = newQueueId();
  const before = transactionLine(newQueueId(), 1);
  const file = path.join(dir, 'j.jsonl');
  fs.writeFileSync(file, before + doneLine(id) + transactionLine(newQueueId(), 2));
  for (let chunk = before.length + 1; chunk <= before.length + doneLine(id).length + 1; chunk++) {
    assert.deepEqual(idsOf(file, chunk), [id], `chunk of ${chunk} bytes`);
  }
});

test('a torn last line is no done line; a whole one without its newline, or ended by the zeros, is', async (t) => {
  const dir = await tempDir(t);
  const [a, b, c] = [newQueueId(), newQueueId(), newQueueId()];
  const file = path.join(dir, 'j.jsonl');
  const torn = doneLine(b).slice(0, 20);
  fs.writeFileSync(file, doneLine(a) + torn);
  assert.deepEqual(idsOf(file, 8), [a]);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(doneLine(a) + torn), Buffer.alloc(100)]));
  assert.deepEqual(idsOf(file, 8), [a]);
  fs.writeFileSync(file, doneLine(a) + doneLine(c).trimEnd());
  assert.deepEqual(idsOf(file, 8), [a, c]);
  fs.writeFileSync(file, Buffer.concat([Buffer.from(doneLine(a) + doneLine(c).trimEnd()), Buffer.alloc(100)]));
  assert.deepEqual(idsOf(file, 8), [a, c]);
});

test('lines that only look like done lines are not: longer, shorter, not a queue id, not at the line start', async (t) => {
  const dir = await tempDir(t);
  const id = newQueueId();
  const file = path.join(dir, 'j.jsonl');
  fs.writeFileSync(
    file,
    [
      `{"done":"${id}","more":1}`,
      `{"done":"${id.slice(1)}"}`,
      `{"done":"${id}x"}`,
      `{"done":"${id.toUpperCase()}"}`,
      ` {"done":"${id}"}`,
      `{"done":"${'_'.repeat(id.length)}"}`,
      `{"id":"${id}","at":"x","rcpt":[["{\\"done\\":\\"${id}\\"}",0]]}`,
      '',
    ].join('\n'),
  );
  assert.deepEqual(idsOf(file, 5), []);
  assert.deepEqual(idsOf(file), []);
});

/** A spool of `count` queued entries (their ids sorted) and its journal directory, for journals written by hand. */
async function spoolWithJournalDir(home: string, count: number): Promise<{ spool: Spool; ids: string[] }> {
  const spool = await openSpool(home);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await enqueueMessage(spool, { from: 'a@example.org', recipients: ['b@example.net'], message: messageText(`m${i}`) })).id);
  }
  ids.sort();
  fs.mkdirSync(spool.journal, { recursive: true, mode: 0o700 });
  return { spool, ids };
}

test('listEntryIds leaves out the entries a journal names in a done line; isFinishedEntry names them', async (t) => {
  const home = await tempDir(t);
  const { spool, ids } = await spoolWithJournalDir(home, 6);
  // Two journals, as two batches (one crashed) leave; done lines of entries long gone too.
  fs.writeFileSync(path.join(spool.journal, '1.1.a.jsonl'), transactionLine(ids[1]!, 1) + doneLine(ids[1]!) + doneLine(newQueueId()));
  fs.writeFileSync(path.join(spool.journal, '2.1.b.jsonl'), Buffer.concat([Buffer.from(doneLine(newQueueId()) + doneLine(ids[4]!) + transactionLine(ids[5]!, 2)), Buffer.alloc(64)]));
  assert.deepEqual(await listStateFileIdsIncludingFinished(spool), ids);
  assert.deepEqual(await listEntryIds(spool), [ids[0], ids[2], ids[3], ids[5]]);
  assert.equal(isFinishedEntry(spool, ids[1]!), true);
  assert.equal(isFinishedEntry(spool, ids[4]!), true);
  assert.equal(isFinishedEntry(spool, ids[5]!), false);
});

test('a journal that is there but cannot be read fails the listing with a clear I/O error (74), not a listing that shows finished entries as queued', async (t) => {
  const home = await tempDir(t);
  await writeConfig(home, { smarthost: 'smtp://127.0.0.1:9', from: 'a@example.org' });
  const { spool, ids } = await spoolWithJournalDir(home, 2);
  fs.writeFileSync(path.join(spool.journal, '1.1.a.jsonl'), doneLine(ids[0]!));
  // Read errors other than a vanished file: a directory in a journal's place (EISDIR; tests run as root, where chmod 000 does not stop a read).
  const broken = path.join(spool.journal, '2.1.b.jsonl');
  fs.mkdirSync(broken, { mode: 0o700 });
  const unreadable = (err: unknown) => {
    assert.ok(err instanceof BulkmailerError, String(err));
    assert.equal(err.exitCode, 74);
    assert.match(err.message, new RegExp(`cannot read the journal ${broken.replaceAll('.', '\\.')}.*EISDIR`));
    return true;
  };
  await assert.rejects(listEntryIds(spool), unreadable);
  assert.throws(() => isFinishedEntry(spool, ids[0]!), unreadable);
  for (const args of [['status'], ['mailq'], ['hold', ids[0]!], ['retry', ids[1]!]]) {
    const run = await runCli(args, { home });
    assert.equal(run.code, 74, `${args.join(' ')}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /cannot read the journal .*2\.1\.b\.jsonl/, args.join(' '));
  }
  // A journal that vanished (its batch ended) is no error: the other one's done line still counts.
  fs.rmdirSync(broken);
  assert.deepEqual(await listEntryIds(spool), [ids[1]]);
  assert.equal((await readEntryState(spool, ids[0]!))?.held ?? false, false, 'the refused hold wrote nothing');
});

test('reading a 40 MB journal for its done lines keeps the memory of a small one (a child process)', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'big.jsonl');
  const fd = fs.openSync(file, 'w', 0o600);
  const wanted: string[] = [];
  let size = 0;
  for (let n = 0; size < 40 * 1024 * 1024; n++) {
    let block = '';
    for (let k = 0; k < 1000; k++) {
      block += transactionLine(newQueueId(), n * 1000 + k);
      if (k === 500 && n % 10 === 0) {
        const id = newQueueId();
        wanted.push(id);
        block += doneLine(id);
      }
    }
    size += fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  const moduleUrl = pathToFileURL(path.join(ROOT, 'dist', 'spool', 'journal-done-lines.js')).href;
  const script = `
    const { readDoneIds } = await import(${JSON.stringify(moduleUrl)});
    globalThis.gc();
    const base = process.resourceUsage().maxRSS;
    const ids = [];
    readDoneIds(${JSON.stringify(file)}, (id) => ids.push(id));
    const peak = process.resourceUsage().maxRSS;
    process.stdout.write(JSON.stringify({ ids, growthKiB: peak - base }));
  `;
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { ids: string[]; growthKiB: number };
  assert.deepEqual(report.ids, wanted);
  assert.ok(size >= 40 * 1024 * 1024);
  // Reading the file whole would add its 40 MB (and its string twice that): the bound is half of it.
  assert.ok(report.growthKiB < 20 * 1024, `peak RSS grew ${report.growthKiB} KiB reading ${size} bytes`);
});
