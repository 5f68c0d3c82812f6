/**
 * stdinChunks: the sendmail command's read(2) loop on stdin. A real pipe
 * (a FIFO in a temp dir): everything written arrives in order, across
 * chunk boundaries; and when the descriptor is non-blocking (read says
 * EAGAIN) the rest comes through the fallback stream, nothing lost.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { stdinChunks } from '../../src/frontends/sendmail/stdin-chunks.js';
import { makeTempHome } from '../support/home.js';

async function collect(chunks: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts).toString('latin1');
}

test('a blocking descriptor: read to the end, in order, more than one chunk', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const file = path.join(home, 'message');
  const text = Array.from({ length: 3000 }, (_, i) => `line ${i} of a message longer than one 64 KiB read\n`).join('');
  fs.writeFileSync(file, text);
  const fd = fs.openSync(file, 'r');
  t.after(() => fs.closeSync(fd));
  let fellBack = false;
  const got = await collect(stdinChunks(fd, () => {
    fellBack = true;
    return [];
  }));
  assert.equal(got, text);
  assert.equal(fellBack, false);
});

test('a non-blocking pipe: what read(2) got, then the rest through the fallback stream', async (t) => {
  const { home, cleanup } = await makeTempHome();
  t.after(cleanup);
  const fifo = path.join(home, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(fifo, 'w');
  fs.writeSync(writer, 'Subject: first half\n\n');
  let socket: net.Socket | undefined;
  const got = collect(stdinChunks(reader, () => {
    // read(2) said EAGAIN: the writer is still there, so send the rest now.
    socket = new net.Socket({ fd: reader, readable: true, writable: false });
    setImmediate(() => {
      fs.writeSync(writer, 'second half\n');
      fs.closeSync(writer);
    });
    return socket;
  }));
  assert.equal(await got, 'Subject: first half\n\nsecond half\n');
  assert.ok(socket, 'the fallback stream was used');
});
