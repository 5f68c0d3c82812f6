/**
 * mailq in Postfix's format (showq): `bulkmailer mailq`, `bulkmailer-sendmail
 * -bp`, and the two commands called through symlinks named mailq and
 * sendmail (argv[0]); `bulkmailer-sendmail --version` and `--home`.
 * A spool with entries in every state, the real bin/ commands.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BULKMAILER, SENDMAIL, runCli } from '../support/cli.js';
import { makeTempHome, type TempHome } from '../support/home.js';
import { makeMixedSpool, type MixedSpool } from '../support/spool-fixtures.js';
import { listEntryIds, openSpool, readEntryState } from '../../src/spool/index.js';

const env = { TZ: 'UTC' };

/** C's asctime() in UTC, its first 20 characters ("Mon Nov  3 04:05:06 "), built from toUTCString. */
function asctimeUtc(iso: string): string {
  const [day, date, month, , time] = new Date(iso).toUTCString().replace(',', '').split(' ');
  return `${day} ${month} ${String(Number(date)).padStart(2)} ${time} `;
}

const RCPT = ' '.repeat(41);

describe('mailq in the Postfix format', () => {
  let temp: TempHome;
  let fixture: MixedSpool;
  before(async () => {
    temp = await makeTempHome();
    fixture = await makeMixedSpool(temp.home);
  });
  after(() => temp.cleanup());

  test('a heading, an entry per block with a line per recipient still to deliver, reasons, the trailer', async () => {
    const run = await runCli(['mailq'], { home: temp.home, env });
    assert.equal(run.code, 0, run.stderr);
    const spool = await openSpool(temp.home);
    const mixed = (await readEntryState(spool, fixture.mixed))!;
    const held = (await readEntryState(spool, fixture.held))!;
    const bounce = (await readEntryState(spool, fixture.bounce))!;
    const pending = (await readEntryState(spool, fixture.pending))!;
    const lines = run.stdout.split('\n');
    assert.equal(lines[0], '-Queue ID- --Size-- ----Arrival Time---- -Sender/Recipient-------');
    // The whole block of the half-delivered post: sent and failed recipients are not listed,
    // the deferred ones come under their reason (right-aligned to column 78), then the pending one.
    const reason = '(451 4.7.1 Greylisted, try later)';
    const mixedBlock = [
      `${mixed.id.padEnd(10)} ${String(mixed.size).padStart(8)} ${asctimeUtc(mixed.createdAt)} list@example.org`,
      `${' '.repeat(78 - reason.length)}${reason}`,
      `${RCPT}d1@example.net`,
      `${RCPT}d2@example.net`,
      `${RCPT}p1@example.org`,
      '',
    ].join('\n');
    assert.ok(run.stdout.includes(`\n${mixedBlock}`), run.stdout);
    // Held: "!" after the id, as Postfix marks its hold queue.
    assert.ok(run.stdout.includes(`${held.id.padEnd(10)}!${String(held.size).padStart(8)} ${asctimeUtc(held.createdAt)} news@example.org\n${RCPT}h1@example.org\n${RCPT}h2@example.org\n`));
    // The null sender is MAILER-DAEMON.
    assert.ok(run.stdout.includes(`${bounce.id.padEnd(10)} ${String(bounce.size).padStart(8)} ${asctimeUtc(bounce.createdAt)} MAILER-DAEMON\n`));
    assert.ok(run.stdout.includes(`(connection lost)\n${RCPT}list@example.org\n`));
    // Entries separated by one empty line, oldest first, and the trailer.
    const ids = lines.filter((l) => /^\S/.test(l) && !l.startsWith('-')).map((l) => l.split(/[ !]/)[0]);
    assert.deepEqual(ids, [pending.id, mixed.id, held.id, bounce.id]);
    const total = [pending, mixed, held, bounce].reduce((n, s) => n + s.size, 0);
    assert.ok(run.stdout.endsWith(`\n\n-- ${Math.floor(total / 1024)} Kbytes in 4 Requests.\n`), run.stdout);
  });

  test('sendmail -bp, and both commands called as mailq or sendmail through a symlink, print the same', async () => {
    const expected = (await runCli(['mailq'], { home: temp.home, env })).stdout;
    const links = path.join(temp.home, 'links');
    await fs.mkdir(links, { recursive: true });
    await fs.symlink(SENDMAIL, path.join(links, 'mailq')).catch(() => {});
    await fs.symlink(BULKMAILER, path.join(links, 'sendmail')).catch(() => {});
    const runs = [
      await runCli(['-bp'], { home: temp.home, env, bin: SENDMAIL }),
      await runCli(['sendmail', '-bp'], { home: temp.home, env }),
      await runCli([], { home: temp.home, env, bin: path.join(links, 'mailq') }),
      await runCli(['-bp'], { home: temp.home, env, bin: path.join(links, 'sendmail') }),
    ];
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, expected);
    }
    // Called as sendmail through a symlink to bin/bulkmailer, it queues a message (not a subcommand).
    const before = (await listEntryIds(await openSpool(temp.home))).length;
    const queued = await runCli(['-f', 'ada@example.org', 'bob@example.net'], { home: temp.home, env, bin: path.join(links, 'sendmail'), input: 'Subject: via symlink\n\nhi\n' });
    assert.equal(queued.code, 0, queued.stderr);
    assert.equal((await listEntryIds(await openSpool(temp.home))).length, before + 1);
  });

  test('an empty queue says so', async () => {
    const empty = await makeTempHome();
    try {
      const run = await runCli(['-bp'], { home: empty.home, env, bin: SENDMAIL });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, 'Mail queue is empty\n');
    } finally {
      await empty.cleanup();
    }
  });
});

describe('bulkmailer-sendmail --version and --home', () => {
  test('--version prints the package version, exit 0', async () => {
    const temp = await makeTempHome();
    try {
      const pkg = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      const run = await runCli(['--version'], { home: temp.home, bin: SENDMAIL });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `bulkmailer-sendmail ${pkg.version}\n`);
    } finally {
      await temp.cleanup();
    }
  });

  test('--home DIR (and --home=DIR) wins over BULKMAILER_HOME', async () => {
    const temp = await makeTempHome();
    try {
      const other = path.join(temp.home, 'other');
      for (const args of [['--home', other], [`--home=${other}`]]) {
        const run = await runCli([...args, 'bob@example.net'], { home: temp.home, bin: SENDMAIL, input: 'Subject: x\n\ny\n' });
        assert.equal(run.code, 0, run.stderr);
      }
      assert.equal((await listEntryIds(await openSpool(other))).length, 2);
      assert.equal((await listEntryIds(await openSpool(temp.home))).length, 0);
      const missing = await runCli(['--home'], { home: temp.home, bin: SENDMAIL });
      assert.equal(missing.code, 64);
    } finally {
      await temp.cleanup();
    }
  });
});
