/**
 * src/message/prepare-message.ts keeps no message's reads past its use: a
 * young-generation collection frees them. The listener's header fields are
 * views into its socket reads; when a closure of prepareMessage's scope held
 * the fields (the result's -t getter did), every message's reads stayed
 * until the next full collection, and the listener's malloc heap grew by
 * ~4 MiB over thousands of messages (docs/performance.md, "The listener's
 * memory over thousands of messages").
 *
 * Each case runs in its own Node process (--expose-gc, the built dist/ as
 * the other heap tests use): N messages, each one socket read's worth of
 * bytes pushed into the intake's MessageBody, are prepared and read to the
 * end, then two young-generation collections run and the process reports
 * the Buffer bytes still allocated (process.memoryUsage().arrayBuffers).
 * A control holds every read on purpose and must report them all: the
 * measure can tell kept reads from freed ones on this Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, collect } from '../support/cli.js';

const MESSAGES = 200;
const READ_BYTES = 60 * 1024;

function moduleUrl(...parts: string[]): string {
  return pathToFileURL(path.join(ROOT, 'dist', ...parts)).href;
}

/** The child's script: prepares MESSAGES messages; `keep` holds each read (the control). */
function script(keep: boolean): string {
  return `
    const { prepareMessage } = await import(${JSON.stringify(moduleUrl('message', 'prepare-message.js'))});
    const { MessageBody } = await import(${JSON.stringify(moduleUrl('frontends', 'smtp-intake', 'message-body.js'))});
    const kept = [];
    const body = Buffer.alloc(${READ_BYTES}, 0x61);
    for (let i = 99; i < body.length; i += 100) body[i] = 0x0a;
    for (let i = 0; i < ${MESSAGES}; i++) {
      // One socket read: the header block and the body, as the intake hands them on.
      const read = Buffer.concat([Buffer.from('Subject: message ' + i + '\\r\\nMessage-ID: <' + i + '@test>\\r\\n\\r\\n'), body]);
      const input = new MessageBody(() => {}, () => {});
      input.push(read);
      input.end();
      const prepared = await prepareMessage(input);
      for await (const chunk of prepared.message) if (chunk.length === 0) throw new Error('empty chunk');
      if (prepared.subject !== 'message ' + i) throw new Error('subject ' + prepared.subject);
      if (${keep}) kept.push(prepared.fields);
    }
    globalThis.gc({ type: 'minor' });
    globalThis.gc({ type: 'minor' });
    // Young Buffers' memory is freed by V8's array-buffer sweeper, which may finish after the collection returns.
    await new Promise((resolve) => setImmediate(resolve));
    process.stdout.write(JSON.stringify({ arrayBuffers: process.memoryUsage().arrayBuffers, kept: kept.length }));
  `;
}

async function bytesLeft(keep: boolean): Promise<number> {
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(keep)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const result = await collect(child);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { arrayBuffers: number; kept: number };
  assert.equal(report.kept, keep ? MESSAGES : 0);
  return report.arrayBuffers;
}

const ALL_READS = MESSAGES * READ_BYTES;
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

test('the control: reads still referenced survive the young-generation collections', async () => {
  const left = await bytesLeft(true);
  assert.ok(left >= ALL_READS * 0.9, `${mib(left)} left of ${mib(ALL_READS)} read: the measure does not see kept reads on this Node`);
});

test('prepared and read, a message keeps none of its reads past a young-generation collection', async () => {
  const left = await bytesLeft(false);
  assert.ok(left < ALL_READS * 0.1, `${mib(left)} of ${mib(ALL_READS)} read still allocated after two young-generation collections`);
});
