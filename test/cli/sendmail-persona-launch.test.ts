/**
 * bin/bulkmailer called as sendmail (through a symlink: its name makes it
 * the sendmail command, src/frontends/sendmail/persona.ts) looks for no
 * bulkmailer command in its arguments, which are sendmail's: `sendmail -i
 * listen` and `sendmail -i flush` mail local users named listen and
 * flush, and get neither the listener's one malloc arena (the shell part's
 * MALLOC_ARENA_MAX=1) nor a long-running command's heap cap (the JS
 * part's capHeapForCommandLine). The control: `bulkmailer listen --help`,
 * run the same way (as a program, the probes preloaded), gets both.
 * What is observed: a preload that prints the MALLOC_ARENA_MAX Node started
 * with (as test/cli/listener-malloc-arenas.test.ts does), and
 * test/support/young-generation-probe.mjs's largest semi-space after the
 * command's work (as test/cli/heap-cap.test.ts does: above the cap when
 * nothing caps it). No timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BULKMAILER, collect, spawnCli } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { listEntryIds, openSpool } from '../../src/spool/index.js';
import { SEMI_SPACE_CAP_BYTES, YOUNG_GENERATION_CAPS } from '../../src/cli/long-running.js';

const PROBE = fileURLToPath(new URL('../support/young-generation-probe.mjs', import.meta.url));
const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

// The children inherit this process's environment: a MALLOC_ARENA_MAX of the machine's would be the user's.
delete process.env.MALLOC_ARENA_MAX;

test('called as sendmail, a recipient named listen or flush gets neither the arena setting nor the heap cap; bulkmailer listen gets both', async (t) => {
  const temp = await makeTempHome();
  t.after(temp.cleanup);
  const report = path.join(temp.home, 'report-arena-max.mjs');
  await fs.writeFile(report, "process.stderr.write(`MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}\\n`);\n");
  const links = path.join(temp.home, 'links');
  await fs.mkdir(links);
  const sendmail = path.join(links, 'sendmail');
  await fs.symlink(BULKMAILER, sendmail);

  let runs = 0;
  /** Runs `bin args` as a program with both probes; its MALLOC_ARENA_MAX and largest semi-space. */
  const launch = async (bin: string, args: string[], input?: string) => {
    const file = path.join(temp.home, `heap-${++runs}.json`);
    const env = { NODE_OPTIONS: `--import=${report} --import=${PROBE}`, BULKMAILER_TEST_HEAP_FILE: file };
    const result = await collect(spawnCli(args, { home: temp.home, env, bin, asProgram: true }), input);
    const arenaMax = /^MALLOC_ARENA_MAX=(.*)$/m.exec(result.stderr)?.[1];
    const heap = JSON.parse(await fs.readFile(file, 'utf8')) as { largestSemiSpaceBytes: number; scavenges: number };
    assert.ok(heap.scavenges > 0, `the probe saw no scavenge: ${JSON.stringify(heap)}`);
    return { result, arenaMax, semiSpace: heap.largestSemiSpaceBytes };
  };

  for (const recipient of ['listen', 'flush']) {
    const run = await launch(sendmail, ['-i', recipient], 'From: ada@example.org\nSubject: to a local user\n\nhi\n');
    const what = `sendmail -i ${recipient}: exit ${run.result.code}, ${run.result.stderr}`;
    assert.equal(run.result.code, 0, what);
    assert.equal(run.arenaMax, 'unset', what);
    assert.ok(run.semiSpace > SEMI_SPACE_CAP_BYTES, `${what}: semi-space ${mib(run.semiSpace)}, capped (uncapped is above ${mib(SEMI_SPACE_CAP_BYTES)})`);
  }
  // Both messages were queued: sendmail's work, not a command's.
  assert.equal((await listEntryIds(await openSpool(temp.home))).length, 2);

  const listen = await launch(BULKMAILER, ['listen', '--help']);
  assert.equal(listen.result.code, 0, listen.result.stderr);
  assert.equal(listen.arenaMax, '1', `bulkmailer listen: ${listen.result.stderr}`);
  assert.ok(listen.semiSpace <= YOUNG_GENERATION_CAPS.listen, `bulkmailer listen: semi-space ${mib(listen.semiSpace)}, expected at most ${mib(YOUNG_GENERATION_CAPS.listen)}`);
});
