/**
 * `bulkmailer enqueue` as a script runs it (real bin/, temp home): prints
 * the id once durable; sender from -f, config or login@host; --file; -t with
 * Bcc removed; and every failure exit code with nothing left half stored:
 * 64 no recipients, 65 bad address / not a message, 66 missing file,
 * 73 spool unwritable, 78 broken config.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listEntryIds, messagePath, openSpool, readEntryState } from '../../src/spool/index.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { runCli } from '../support/cli.js';

const MESSAGE = 'From: ada@example.org\nTo: bob@example.net\nSubject: queued\n\nbody\n';

describe('bulkmailer enqueue', () => {
  let temp: TempHome;
  let n = 0;
  before(async () => {
    temp = await makeTempHome();
  });
  after(() => temp.cleanup());

  async function freshHome(config?: Record<string, unknown>): Promise<string> {
    const home = path.join(temp.home, `h${n++}`);
    await fs.mkdir(home);
    if (config) await writeConfig(home, config);
    return home;
  }

  async function ids(home: string): Promise<string[]> {
    return listEntryIds(await openSpool(home));
  }

  it('prints the id of the new entry, which exists with the sender of -f', async () => {
    const home = await freshHome({ from: 'config@example.org' });
    const result = await runCli(['enqueue', '-f', 'ada@example.org', 'bob@example.net'], { home, input: MESSAGE });
    assert.equal(result.code, 0, result.stderr);
    const id = result.stdout.trim();
    assert.deepEqual(await ids(home), [id]);
    const spool = await openSpool(home);
    const state = await readEntryState(spool, id);
    assert.equal(state?.from, 'ada@example.org');
    assert.equal(state?.subject, 'queued');
    assert.match(await fs.readFile(messagePath(spool, id), 'utf8'), /^From: ada@example\.org\nTo: bob@example\.net\nSubject: queued\nDate: .+\nMessage-ID: <.+@example\.org>\n\nbody\n$/);
  });

  it('takes the sender from config, else login@host; reads --file', async () => {
    const configured = await freshHome({ from: 'config@example.org' });
    const file = path.join(configured, 'message.eml');
    await fs.writeFile(file, MESSAGE);
    const one = await runCli(['enqueue', '--file', file, 'bob@example.net'], { home: configured });
    assert.equal(one.code, 0, one.stderr);
    assert.equal((await readEntryState(await openSpool(configured), one.stdout.trim()))?.from, 'config@example.org');

    const bare = await freshHome();
    const two = await runCli(['enqueue', 'bob@example.net'], { home: bare, input: MESSAGE });
    assert.equal(two.code, 0, two.stderr);
    assert.match((await readEntryState(await openSpool(bare), two.stdout.trim()))?.from ?? '', /^[^@\s]+@[^@\s]+$/);
  });

  it('takes addresses in angle brackets, as copied from a header: <bob@example.net>', async () => {
    const home = await freshHome();
    const result = await runCli(['enqueue', '-f', '<ada@example.org>', '<bob@example.net>', 'carl@[192.0.2.1]'], { home, input: MESSAGE });
    assert.equal(result.code, 0, result.stderr);
    const state = await readEntryState(await openSpool(home), result.stdout.trim());
    assert.equal(state?.from, 'ada@example.org');
    assert.deepEqual(state?.recipients.map((r) => r.address), ['bob@example.net', 'carl@[192.0.2.1]']);
  });

  it('-t takes To/Cc/Bcc and removes Bcc from the stored message', async () => {
    const home = await freshHome();
    const input = 'From: ada@example.org\nTo: bob@example.net\nBcc: Hidden <hidden@example.net>\nSubject: t\n\nb\n';
    const result = await runCli(['enqueue', '-t'], { home, input });
    assert.equal(result.code, 0, result.stderr);
    const spool = await openSpool(home);
    const id = result.stdout.trim();
    assert.deepEqual((await readEntryState(spool, id))?.recipients.map((r) => r.address), ['bob@example.net', 'hidden@example.net']);
    assert.equal((await fs.readFile(messagePath(spool, id), 'utf8')).includes('hidden'), false);
  });

  it('exit 64 without recipients or -t; 65 for a bad address or an empty message; 66 for a missing file; 74 for one that cannot be read', async () => {
    const home = await freshHome();
    const cases: [string[], string, number][] = [
      [['enqueue'], MESSAGE, 64],
      [['enqueue', 'bob smith'], MESSAGE, 65],
      [['enqueue', '-f', 'no<body>', 'bob@example.net'], MESSAGE, 65],
      [['enqueue', 'bob@example..org'], MESSAGE, 65],
      [['enqueue', 'bob@.example.org'], MESSAGE, 65],
      [['enqueue', 'bob@example.org.'], MESSAGE, 65],
      [['enqueue', '-t'], 'Subject: no recipients\n\nb\n', 65],
      [['enqueue', 'bob@example.net'], '', 65],
      [['enqueue', '--file', path.join(home, 'missing.eml'), 'bob@example.net'], '', 66],
      [['enqueue', '--file', home, 'bob@example.net'], '', 74],
    ];
    for (const [args, input, code] of cases) {
      const result = await runCli(args, { home, input });
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.notEqual(result.stderr, '');
    }
    assert.deepEqual(await ids(home), []);
    assert.deepEqual(await fs.readdir((await openSpool(home)).tmp), []);
  });

  it('exit 73 when the spool cannot be written (tmp/ is not a directory), nothing stored', async () => {
    const home = await freshHome();
    const spool = await openSpool(home);
    await fs.rm(spool.tmp, { recursive: true });
    await fs.writeFile(spool.tmp, 'not a directory');
    const result = await runCli(['enqueue', 'bob@example.net'], { home, input: MESSAGE });
    assert.equal(result.code, 73, result.stderr);
    assert.equal(result.stdout, '');
    assert.deepEqual(await ids(home), []);
  });

  it('exit 78 with a config.json that is not JSON', async () => {
    const home = await freshHome();
    await fs.writeFile(path.join(home, 'config.json'), '{ broken');
    const result = await runCli(['enqueue', 'bob@example.net'], { home, input: MESSAGE });
    assert.equal(result.code, 78, result.stderr);
  });
});
