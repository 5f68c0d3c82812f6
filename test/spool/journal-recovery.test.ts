/**
 * Recovery reads each leftover journal with the journal's one line reader
 * (src/spool/journal-lines.ts), a chunk at a time: the same outcome
 * whatever the chunk boundaries cut (a done line, a transaction line, the
 * torn last line, the zeros after it), and a large journal recovered in
 * the memory of what recovery keeps (its done ids), not of the file: a
 * child process whose V8 old generation is capped at OLD_SPACE_MB (as
 * test/cli/status-memory.test.ts caps status) recovers a 32 MB journal;
 * reading it whole, as before, needs its size as one string and dies of
 * "JavaScript heap out of memory". Real spools in temp dirs, the built
 * dist/ in the child.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { newQueueId } from '../../src/model/queue-id.js';
import { openSpool, readEntryState, recoverJournals, type Spool } from '../../src/spool/index.js';
import { ROOT, collect } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { makeLargeSpool } from '../support/spool-fixtures.js';

/** The old generation's cap for the child, MB: a 32 MB journal read whole is one string of 32 MB. */
const OLD_SPACE_MB = 14;
const SEMI_SPACE_MB = 1;

function transactionLine(id: string, rcpt: [string, number][], at = new Date().toISOString()): string {
  return JSON.stringify({ id, at, rcpt }) + '\n';
}
const doneLine = (id: string) => JSON.stringify({ done: id }) + '\n';

async function spoolWith(t: { after: (fn: () => Promise<void>) => void }, entries: number): Promise<{ home: string; spool: Spool; ids: string[] }> {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const ids = await makeLargeSpool(home, entries, 2);
  const spool = await openSpool(home);
  fs.mkdirSync(spool.journal, { recursive: true, mode: 0o700 });
  return { home, spool, ids };
}

test('recovery at any chunk size: the same marks, the finished entry removed, the torn last line and the zeros skipped, wherever a boundary cuts them', async (t) => {
  // Lines for: a (its transaction unrecorded: marked), b (its done line after its transaction: removed, not marked),
  // c (attempts moved on: nothing), an entry long gone (done), d (the torn last line: never durable, skipped).
  const layout = (ids: string[]) => {
    const [a, b, c, d] = ids as [string, string, string, string];
    const rcpt = (id: string, attempts: number): [string, number][] => [0, 1].map((k) => [`member${k}.${ids.indexOf(id)}@example.org`, attempts]);
    const lines = [transactionLine(a, rcpt(a, 0)), transactionLine(b, rcpt(b, 0)), transactionLine(c, rcpt(c, 1)), doneLine(b), doneLine(newQueueId())];
    const torn = transactionLine(d, rcpt(d, 0)).slice(0, 40);
    return { text: lines.join('') + torn, doneAt: lines.slice(0, 3).join('').length, tornAt: lines.join('').length, torn };
  };
  const probe = layout([newQueueId(), newQueueId(), newQueueId(), newQueueId()]);
  const chunks = [1, 3, 8, 64, probe.doneAt + 7, probe.tornAt + 10, probe.tornAt + probe.torn.length - 1, 65536];
  for (const chunkBytes of chunks) {
    const { spool, ids } = await spoolWith(t, 4);
    const [a, b, c, d] = ids as [string, string, string, string];
    const { text } = layout(ids);
    fs.writeFileSync(path.join(spool.journal, '1.1.a.jsonl'), Buffer.concat([Buffer.from(text), Buffer.alloc(500)]), { mode: 0o600 });
    const recovered = await recoverJournals(spool, 'resend', { chunkBytes });
    const where = `chunks of ${chunkBytes} bytes`;
    assert.deepEqual(recovered, [{ id: a, recipients: ['member0.0@example.org', 'member1.0@example.org'], held: false }], where);
    assert.equal(await readEntryState(spool, b), null, `${where}: the finished entry is removed`);
    for (const id of [c, d]) {
      const state = await readEntryState(spool, id);
      assert.deepEqual(state?.recipients.map((r) => [r.attempts, r.possibleDuplicate === true]), [[0, false], [0, false]], `${where}: ${id} unchanged`);
    }
    assert.deepEqual(fs.readdirSync(spool.journal), [], where);
  }
});

test(`recovering a 32 MB journal fits a ${OLD_SPACE_MB} MB old generation (a child process): only the done ids are kept, the file is never held`, async (t) => {
  const { spool, ids } = await spoolWith(t, 2);
  const [interrupted, finished] = ids as [string, string];
  // A crashed drain's journal: transactions of many entries, finished since (their done lines), and one left unrecorded.
  const gone = Array.from({ length: 50 }, () => newQueueId());
  const file = path.join(spool.journal, `99999.1.${Date.now().toString(36)}.jsonl`);
  const fd = fs.openSync(file, 'w', 0o600);
  let size = 0;
  for (let block = 0; size < 32 * 1024 * 1024; block++) {
    let text = '';
    for (let k = 0; k < 1000; k++) {
      const rcpt = Array.from({ length: 5 }, (_, i): [string, number] => [`member-${k}-${i}@example.net`, 0]);
      text += transactionLine(gone[(block * 1000 + k) % gone.length]!, rcpt);
    }
    size += fs.writeSync(fd, text);
  }
  fs.writeSync(fd, transactionLine(finished, [['member0.1@example.org', 0]]) + doneLine(finished));
  fs.writeSync(fd, transactionLine(interrupted, [['member1.0@example.org', 0]]));
  fs.writeSync(fd, gone.map(doneLine).join(''));
  fs.writeSync(fd, Buffer.alloc(64 * 1024)); // the preallocated zeros
  fs.closeSync(fd);

  const moduleUrl = pathToFileURL(path.join(ROOT, 'dist', 'spool', 'index.js')).href;
  const script = `
    const { openSpool, recoverJournals } = await import(${JSON.stringify(moduleUrl)});
    const spool = await openSpool(process.argv[1]);
    const recovered = await recoverJournals(spool, 'resend');
    process.stdout.write(JSON.stringify({ recovered, heapSizeLimit: (await import('node:v8')).getHeapStatistics().heap_size_limit }));
  `;
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${OLD_SPACE_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`, '--input-type=module', '-e', script, spool.home],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const result = await collect(child, undefined, 300_000);
  const why = /^FATAL ERROR:.*$/m.exec(result.stderr)?.[0] ?? result.stderr.slice(0, 600);
  assert.equal(result.signal, null, `recovery died under a ${OLD_SPACE_MB} MB heap (does it hold the journal?): ${why}`);
  assert.equal(result.code, 0, why);
  const report = JSON.parse(result.stdout) as { recovered: unknown; heapSizeLimit: number };
  assert.ok(report.heapSizeLimit < 32 * 2 ** 20, `heap limit ${report.heapSizeLimit} bytes: the caps were not applied`);
  assert.deepEqual(report.recovered, [{ id: interrupted, recipients: ['member1.0@example.org'], held: false }]);
  assert.equal(await readEntryState(spool, finished), null, 'the finished entry is removed');
  assert.equal((await readEntryState(spool, interrupted))?.recipients[1]?.possibleDuplicate, true);
  assert.deepEqual(fs.readdirSync(spool.journal), []);
});
