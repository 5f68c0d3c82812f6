/**
 * bin/bulkmailer's shell part: `bulkmailer listen`, started as a user
 * starts it (the file executed as a program, `node` from PATH: this test's
 * Node first), runs with one glibc malloc arena (MALLOC_ARENA_MAX=1, which
 * glibc reads only before Node starts). Without it each V8 worker thread
 * that mallocs (the optimizing compiler, the collector's tasks) has an
 * arena of its own that keeps what it freed resident: 3-5 MiB of the
 * listener's peak over 20,000 messages, ~70 KB of it in use
 * (docs/performance.md, "The listener's malloc arenas").
 *
 * What is counted: the thread arenas in /proc/PID/maps. glibc makes each
 * one a reservation of 64 MiB (HEAP_MAX_SIZE) at a 64 MiB boundary, its
 * used part read-write at the start and the rest PROT_NONE; the main arena
 * is [heap] and is not counted. The control: the same listener, with the
 * same messages, where the user set MALLOC_ARENA_MAX=8 themselves (which
 * the launcher keeps) has such arenas, so the count sees them on this
 * Node. Also checked: the launcher picks the command out of the arguments
 * as src/cli/long-running.ts's longRunningCommandOf does. Linux with glibc
 * (CI's); the counts do not depend on timing. DEBUG_ARENAS=1 prints them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BULKMAILER, ROOT, collect, spawnCli, startListen } from '../support/cli.js';
import { makeTempHome, writeConfig } from '../support/home.js';
import { openRaw, sendRawMessage } from '../support/smtp-client.js';
import { longRunningCommandOf } from '../../src/cli/long-running.js';

// The children inherit this process's environment: a MALLOC_ARENA_MAX of the machine's would be the user's.
delete process.env.MALLOC_ARENA_MAX;

const MESSAGES = 50;
const ARENA_RESERVATION = 64 * 1024 * 1024;

interface Arena {
  range: string;
  residentKb: number;
}

/** glibc's thread arenas in /proc/PID/smaps: a read-write mapping at a 64 MiB boundary, followed by the PROT_NONE rest of its 64 MiB. */
async function threadArenas(pid: number): Promise<Arena[]> {
  const text = await fs.readFile(`/proc/${pid}/smaps`, 'utf8');
  const maps: Array<{ start: bigint; end: bigint; perms: string; named: boolean; rss: number }> = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(\S*)/.exec(line);
    if (head) maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3] as string, named: head[4] !== '', rss: 0 });
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length > 0) (maps[maps.length - 1] as { rss: number }).rss = Number(rss[1]);
  }
  const arenas: Arena[] = [];
  const reservation = BigInt(ARENA_RESERVATION);
  for (let i = 0; i + 1 < maps.length; i++) {
    const [used, rest] = [maps[i]!, maps[i + 1]!];
    if (used.named || used.perms !== 'rw-p' || used.start % reservation !== 0n) continue;
    if (rest.perms === '---p' && rest.start === used.end && rest.end === used.start + reservation) {
      arenas.push({ range: `${used.start.toString(16)}-${used.end.toString(16)}`, residentKb: used.rss });
    }
  }
  return arenas;
}

async function environment(pid: number): Promise<Map<string, string>> {
  const text = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
  return new Map(text.split('\0').filter((entry) => entry.includes('=')).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

/**
 * Starts `bulkmailer listen` as a program with `env`, sends MESSAGES
 * messages over one connection, and returns its MALLOC_ARENA_MAX and
 * thread arenas before stopping it.
 */
async function listenerArenas(env: Record<string, string>): Promise<{ arenaMax: string | undefined; arenas: Arena[] }> {
  const temp = await makeTempHome();
  try {
    await writeConfig(temp.home, { smarthost: 'smtp://127.0.0.1:9', from: 'sender@example.org' });
    const listener = await startListen(['--port', '0'], { home: temp.home, env, asProgram: true });
    try {
      const client = await openRaw(listener.port);
      const message = `From: sender@example.org\r\nTo: rcpt@example.org\r\nSubject: arenas\r\n\r\n${'body line\r\n'.repeat(100)}`;
      for (let i = 0; i < MESSAGES; i++) {
        const reply = await sendRawMessage(client, 'sender@example.org', ['a@example.org', 'b@example.org'], message);
        assert.equal(reply.code, 250, reply.text);
      }
      client.close();
      const pid = listener.child.pid as number;
      return { arenaMax: (await environment(pid)).get('MALLOC_ARENA_MAX'), arenas: await threadArenas(pid) };
    } finally {
      listener.child.kill('SIGTERM');
      await listener.result;
    }
  } finally {
    await temp.cleanup();
  }
}

test('listen, started as a program, has no malloc arena but the main one; with the user’s own MALLOC_ARENA_MAX it keeps theirs', async () => {
  const launched = await listenerArenas({});
  const own = await listenerArenas({ MALLOC_ARENA_MAX: '8' });
  const show = (arenas: Arena[]) => `${arenas.length} (${arenas.map((a) => `${a.range}: ${a.residentKb} kB resident`).join(', ')})`;
  if (process.env.DEBUG_ARENAS) console.log(`launched: ${show(launched.arenas)}; MALLOC_ARENA_MAX=8: ${show(own.arenas)}`);
  assert.equal(own.arenaMax, '8', 'the user’s MALLOC_ARENA_MAX was replaced');
  // Measured on Node 20, 22 and 24: 5 thread arenas after these messages, 4-612 kB resident each.
  assert.ok(own.arenas.length >= 1, `the control (MALLOC_ARENA_MAX=8) has no thread arena: the count does not see them on this Node`);
  assert.equal(launched.arenas.length, 0, `thread arenas in the launched listener: ${show(launched.arenas)}; its MALLOC_ARENA_MAX: ${launched.arenaMax}`);
  assert.equal(launched.arenaMax, '1');
});

test('the launcher finds the command as longRunningCommandOf does', async (t) => {
  const temp = await makeTempHome();
  t.after(temp.cleanup);
  // A preload that tells the environment Node started with (the launcher's only effect besides exec).
  const report = path.join(temp.home, 'report-arena-max.mjs');
  await fs.writeFile(report, "process.stderr.write(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}\\n`);\n");
  const cases: string[][] = [
    ['listen', '--help'],
    ['--home', temp.home, 'listen', '--help'],
    [`--home=${temp.home}`, 'listen', '--help'],
    ['--no-color', 'listen', '--help'],
    ['status'],
    ['--home', temp.home, 'status'],
    // A home named `listen`, relative: run in the temp home (below) so it is made there, not in the checkout.
    ['--home', 'listen', 'status'],
    ['status', 'listen'],
    ['--version'],
  ];
  for (const args of cases) {
    const result = await collect(spawnCli(args, { home: temp.home, cwd: temp.home, env: { NODE_OPTIONS: `--import=${report}` }, asProgram: true }));
    const seen = /^MALLOC_ARENA_MAX=(.*)$/m.exec(result.stderr)?.[1];
    const expected = longRunningCommandOf(BULKMAILER, args) === 'listen' ? '1' : 'unset';
    assert.equal(seen, expected, `bulkmailer ${args.join(' ')}: exit ${result.code}, ${result.stderr}`);
  }
  // `--home listen` made its spool in the temp home, the working directory, and nothing in the checkout.
  assert.ok((await fs.stat(path.join(temp.home, 'listen', 'spool'))).isDirectory());
  await assert.rejects(fs.lstat(path.join(ROOT, 'listen')), { code: 'ENOENT' }, 'the test wrote ./listen into the checkout');
});
