/**
 * The sendmail command as mail clients and cron run it: the real
 * bin/bulkmailer-sendmail (and `bulkmailer sendmail`) as child processes on
 * a temp home. Every flag of the issue: recipients, -t with Bcc, -i/-oi vs
 * a lone dot, -f/-r/-F, added Date/Message-ID/From, -bm, -bp, -q, -bs, -v,
 * -odq/-odi/-odb, ignored -o/-N/-R/-B, unknown options (64), bad addresses
 * (65), broken config (78), an unwritable spool (73). Also the argv parser.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSendmailArgs } from '../../src/frontends/sendmail/parse-args.js';
import { BulkmailerError } from '../../src/errors.js';
import { listEntryIds, listenForNudges, messagePath, openSpool, readEntryState } from '../../src/spool/index.js';
import type { EntryState } from '../../src/model/entry-state.js';
import { startCaptureServer, type CaptureServer } from '../support/capture-server.js';
import { makeTempHome, writeConfig, type TempHome } from '../support/home.js';
import { runCli, SENDMAIL, type RunResult } from '../support/cli.js';
import { parseReplies } from '../support/smtp-client.js';

function sendmail(home: string, args: string[], input?: string | Buffer, env?: Record<string, string>): Promise<RunResult> {
  return runCli(args, { home, bin: SENDMAIL, ...(input === undefined ? {} : { input }), ...(env ? { env } : {}) });
}

async function onlyEntry(home: string): Promise<{ state: EntryState; message: string }> {
  const spool = await openSpool(home);
  const ids = await listEntryIds(spool);
  assert.equal(ids.length, 1, `expected one entry, found ${ids.length}`);
  const id = ids[0] as string;
  const state = (await readEntryState(spool, id)) as EntryState;
  return { state, message: await fs.readFile(messagePath(spool, id), 'utf8') };
}

async function entryCount(home: string): Promise<number> {
  return (await listEntryIds(await openSpool(home))).length;
}

const COMPLETE =
  'From: Ada <ada@example.org>\nTo: bob@example.net\nDate: Mon, 3 Mar 2025 10:00:00 +0000\nMessage-ID: <m1@example.org>\nSubject: hello\n\nbody\n';

describe('sendmail argv', () => {
  it('takes values attached or separate, and the sendmail option zoo', () => {
    const a = parseSendmailArgs(['-oi', '-fme@x.org', '-F', 'Me Myself', '-t', '-v', '-odb', '-oem', '-N', 'never', '-Rhdrs', '-B', '8BITMIME', 'a@x.org', '--', '-weird@x.org']);
    assert.equal(a.ignoreDots, true);
    assert.equal(a.sender, 'me@x.org');
    assert.equal(a.fullName, 'Me Myself');
    assert.equal(a.readRecipients, true);
    assert.equal(a.verbose, true);
    assert.equal(a.deliveryMode, 'background');
    assert.deepEqual(a.recipients, ['a@x.org', '-weird@x.org']);
    assert.deepEqual(a.ignored, ['-oem', '-Nnever', '-Rhdrs', '-B8BITMIME']);
    assert.equal(parseSendmailArgs(['-f', '<>']).sender, '');
    assert.equal(parseSendmailArgs(['-r', '<x@y.org>']).sender, 'x@y.org');
    assert.equal(parseSendmailArgs(['-i']).ignoreDots, true);
    assert.equal(parseSendmailArgs(['-o', 'i']).ignoreDots, true);
    assert.equal(parseSendmailArgs(['-odi']).deliveryMode, 'interactive');
    assert.equal(parseSendmailArgs(['-odq']).deliveryMode, 'queue');
    assert.equal(parseSendmailArgs(['-bp']).mode, 'list');
    assert.equal(parseSendmailArgs(['-b', 's']).mode, 'smtp');
    assert.equal(parseSendmailArgs(['-q']).mode, 'flush');
    assert.equal(parseSendmailArgs(['-q30m']).mode, 'flush');
    assert.equal(parseSendmailArgs(['-bm', 'a@x.org']).mode, 'deliver');
    assert.deepEqual(parseSendmailArgs(['-U', '-m', '-n', '-h', '3', '-L', 'tag', 'a@x.org']).recipients, ['a@x.org']);
    // Bundled flags, as getopt-based sendmails take them (sendmail -ti, -it).
    for (const bundle of ['-ti', '-it', '-tiv']) {
      const b = parseSendmailArgs([bundle, 'a@x.org']);
      assert.equal(b.readRecipients, true, bundle);
      assert.equal(b.ignoreDots, true, bundle);
      assert.deepEqual(b.recipients, ['a@x.org']);
    }
  });

  it('refuses unknown options and missing values with a usage error', () => {
    for (const argv of [['-Z'], ['-tx'], ['-bd'], ['-f'], ['-F'], ['--frobnicate']]) {
      assert.throws(() => parseSendmailArgs(argv), (err: unknown) => err instanceof BulkmailerError && err.exitCode === 64, argv.join(' '));
    }
  });
});

describe('bulkmailer-sendmail', () => {
  let temp: TempHome;
  before(async () => {
    temp = await makeTempHome();
  });
  after(() => temp.cleanup());

  /** A fresh home per case, inside the suite's temp dir. */
  let n = 0;
  async function freshHome(config?: Record<string, unknown>): Promise<string> {
    const home = path.join(temp.home, `h${n++}`);
    await fs.mkdir(home);
    if (config) await writeConfig(home, config);
    return home;
  }

  it('queues a message for the argument recipients and exits 0 once durable, keeping the bytes', async () => {
    const home = await freshHome();
    const result = await sendmail(home, ['bob@example.net', 'carol@example.net'], COMPLETE);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    const { state, message } = await onlyEntry(home);
    assert.equal(message, COMPLETE);
    assert.deepEqual(state.recipients.map((r) => r.address), ['bob@example.net', 'carol@example.net']);
    assert.equal(state.subject, 'hello');
    assert.equal(state.messageId, '<m1@example.org>');
  });

  it('-t reads To/Cc/Bcc, adds them to the arguments, and removes Bcc from the stored message', async () => {
    const home = await freshHome();
    const input = 'From: ada@example.org\nTo: Bob <bob@example.net>\nCc: team: c1@example.net, c2@example.net;\nBcc: secret@example.net\nSubject: t\n\nbody\n';
    const result = await sendmail(home, ['-t', 'extra@example.net'], input);
    assert.equal(result.code, 0, result.stderr);
    const { state, message } = await onlyEntry(home);
    assert.deepEqual(state.recipients.map((r) => r.address), [
      'extra@example.net',
      'bob@example.net',
      'c1@example.net',
      'c2@example.net',
      'secret@example.net',
    ]);
    assert.equal(/^bcc:/im.test(message), false);
    assert.equal(message.includes('secret@example.net'), false);
    assert.ok(message.startsWith('From: ada@example.org\nTo: Bob <bob@example.net>\nCc: team: c1@example.net, c2@example.net;\nSubject: t\n'));
    assert.ok(message.endsWith('\n\nbody\n'));
  });

  it('without -i a lone dot ends the message; with -i or -oi it does not', async () => {
    const input = 'Subject: dots\n\nbefore\n.\nafter\n';
    const plain = await freshHome();
    assert.equal((await sendmail(plain, ['a@example.org'], input)).code, 0);
    const ended = (await onlyEntry(plain)).message;
    assert.ok(ended.endsWith('\n\nbefore\n'), ended);
    for (const flag of ['-i', '-oi']) {
      const home = await freshHome();
      assert.equal((await sendmail(home, [flag, 'a@example.org'], input)).code, 0);
      assert.ok((await onlyEntry(home)).message.endsWith('\n\nbefore\n.\nafter\n'), flag);
    }
  });

  it('adds Date, Message-ID and From when missing: From from config, -f, -F, or login@host', async () => {
    const configured = await freshHome({ from: 'list@example.org' });
    assert.equal((await sendmail(configured, ['a@example.org'], 'Subject: bare\n\nbody\n')).code, 0);
    const one = await onlyEntry(configured);
    assert.equal(one.state.from, 'list@example.org');
    assert.match(one.message, /^Subject: bare\nFrom: list@example\.org\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}\nMessage-ID: <[^>]+@example\.org>\n\nbody\n$/);
    assert.equal(one.state.messageId, /Message-ID: (<[^>]+>)/.exec(one.message)?.[1]);

    const withF = await freshHome({ from: 'list@example.org' });
    assert.equal((await sendmail(withF, ['-f', 'ada@example.net', '-F', 'Ada Lovelace', 'a@example.org'], 'Subject: x\n\nb\n')).code, 0);
    const two = await onlyEntry(withF);
    assert.equal(two.state.from, 'ada@example.net');
    assert.match(two.message, /\nFrom: Ada Lovelace <ada@example\.net>\n/);

    const nothing = await freshHome();
    assert.equal((await sendmail(nothing, ['a@example.org'], 'Subject: x\n\nb\n')).code, 0);
    const three = await onlyEntry(nothing);
    assert.match(three.state.from, /^[^@\s]+@[^@\s]+$/);
    // Domains are compared without case: the envelope keeps them lower-cased.
    assert.ok(three.message.toLowerCase().includes(`\nfrom: ${three.state.from.toLowerCase()}\n`));
  });

  it('-f <> queues with the null sender (and a From of the default address)', async () => {
    const home = await freshHome({ from: 'list@example.org' });
    assert.equal((await sendmail(home, ['-f<>', 'a@example.org'], 'Subject: bounce\n\nb\n')).code, 0);
    const { state, message } = await onlyEntry(home);
    assert.equal(state.from, '');
    assert.ok(message.includes('\nFrom: list@example.org\n'));
  });

  it('accepts and ignores -oX, -N, -R, -B, -bm; -v says what happened on stderr', async () => {
    const home = await freshHome();
    const result = await sendmail(home, ['-v', '-bm', '-oem', '-odq', '-N', 'never', '-R', 'hdrs', '-B8BITMIME', '-i', 'a@example.org'], COMPLETE);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /queued [0-9a-z]{17} for 1 recipient/);
    assert.match(result.stderr, /ignored options: -oem -Nnever -Rhdrs -B8BITMIME/);
    assert.equal(await entryCount(home), 1);
  });

  it('exit 64: unknown option, no recipients; nothing queued', async () => {
    const home = await freshHome();
    const unknown = await sendmail(home, ['-Z', 'a@example.org'], COMPLETE);
    assert.equal(unknown.code, 64);
    assert.match(unknown.stderr, /unknown option -Z/);
    const none = await sendmail(home, [], COMPLETE);
    assert.equal(none.code, 64);
    assert.match(none.stderr, /no recipients/);
    assert.equal(await entryCount(home), 0);
  });

  it('exit 65: bad recipient, bad sender, -t without recipients, not a message; nothing queued', async () => {
    const home = await freshHome();
    for (const [args, input] of [
      [['not an address'], COMPLETE],
      [['-f', 'bad sender', 'a@example.org'], COMPLETE],
      [['-t'], 'Subject: nobody\n\nb\n'],
      [['-t'], 'To: undisclosed-recipients:;\n\nb\n'],
      [['a@example.org'], ''],
    ] as [string[], string][]) {
      const result = await sendmail(home, args, input);
      assert.equal(result.code, 65, `${args.join(' ')}: ${result.stderr}`);
    }
    assert.equal(await entryCount(home), 0);
    assert.deepEqual(await fs.readdir((await openSpool(home)).tmp), []);
  });

  it('bare local names get the domain of config `from` (sendmail root), as nullmailer adds its defaultdomain', async () => {
    const home = await freshHome();
    await writeConfig(home, { from: 'me@example.org' });
    const result = await sendmail(home, ['-f', 'cron', 'root'], 'To: root, ops\nSubject: nightly\n\nreport\n');
    assert.equal(result.code, 0, result.stderr);
    const piped = await sendmail(home, ['-t'], 'To: root, ops\nSubject: nightly\n\nreport\n');
    assert.equal(piped.code, 0, piped.stderr);
    const spool = await openSpool(home);
    const states = await Promise.all((await listEntryIds(spool)).map((id) => readEntryState(spool, id)));
    assert.deepEqual(states.map((s) => [s?.from, s?.recipients.map((r) => r.address)]), [
      ['cron@example.org', ['root@example.org']],
      ['me@example.org', ['root@example.org', 'ops@example.org']],
    ]);
  });

  it('a body with no header fields (echo hi | sendmail bob) is queued as a body, as Postfix does', async () => {
    const home = await freshHome();
    const result = await sendmail(home, ['-f', 'me@example.org', 'bob@example.org'], 'hi there\nsecond line\n');
    assert.equal(result.code, 0, result.stderr);
    const spool = await openSpool(home);
    const [id] = await listEntryIds(spool);
    const stored = await fs.readFile(messagePath(spool, id!), 'utf8');
    assert.match(stored, /^From: me@example.org\nDate: .+\nMessage-ID: <.+>\n\nhi there\nsecond line\n$/);
  });

  it('exit 78 on a broken config.json', async () => {
    const home = await freshHome();
    await fs.writeFile(path.join(home, 'config.json'), '{ "from": ');
    const result = await sendmail(home, ['a@example.org'], COMPLETE);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /config\.json is not valid JSON/);
  });

  it('exit 73 when the spool cannot be written, nothing half stored', async () => {
    const home = await freshHome();
    const spool = await openSpool(home);
    await fs.rm(spool.tmp, { recursive: true });
    await fs.writeFile(spool.tmp, 'a file where a directory belongs');
    const result = await sendmail(home, ['a@example.org'], COMPLETE);
    assert.equal(result.code, 73, result.stderr);
    assert.equal(await entryCount(home), 0);
  });

  it('`bulkmailer sendmail` is the same command', async () => {
    const home = await freshHome();
    const result = await runCli(['--home', home, 'sendmail', '-t', '-oi'], { home: '/nonexistent-should-not-be-used', input: COMPLETE });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await onlyEntry(home)).state.recipients.map((r) => r.address), ['bob@example.net']);
  });

  it('-bp lists the queue', async () => {
    const home = await freshHome();
    await sendmail(home, ['a@example.org'], COMPLETE);
    const result = await sendmail(home, ['-bp']);
    assert.equal(result.code, 0, result.stderr);
    const { state } = await onlyEntry(home);
    assert.match(result.stdout, new RegExp(`^${state.id} +${state.size} `, 'm'));
    assert.match(result.stdout, /^ {41}a@example\.org$/m);
  });

  it('-bs speaks SMTP on stdin/stdout (a whole pipelined session at once) and queues the message', async () => {
    const home = await freshHome();
    const session =
      'EHLO client.example.org\r\nMAIL FROM:<ada@example.org>\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n' +
      'Subject: over stdio\r\n\r\n..dot-stuffed\r\nbody\r\n.\r\nQUIT\r\n';
    const result = await sendmail(home, ['-bs'], session);
    assert.equal(result.code, 0, result.stderr);
    const codes = parseReplies(result.stdout).replies.map((r) => r.code);
    assert.deepEqual(codes, [220, 250, 250, 250, 250, 354, 250, 221]);
    const { state, message } = await onlyEntry(home);
    assert.equal(message, 'Subject: over stdio\r\n\r\n.dot-stuffed\r\nbody\r\n');
    assert.equal(state.from, 'ada@example.org');
    assert.deepEqual(state.recipients.map((r) => r.address), ['bob@example.net', 'carol@example.net']);
    assert.ok(result.stdout.includes(`queued as ${state.id}`));
  });

  // The timeout fails a nudge that never comes (the wait below would otherwise hang), it times nothing.
  it('-bs nudges a running agent once its message is queued (after the 250, before the exit)', { timeout: 60_000 }, async () => {
    const home = await freshHome();
    let nudges = 0;
    const trigger = await listenForNudges(await openSpool(home), () => nudges++);
    try {
      const session = 'HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n';
      const result = await sendmail(home, ['-bs'], session);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(parseReplies(result.stdout).replies.map((r) => r.code), [220, 250, 250, 250, 354, 250, 221]);
      // The nudge's byte may reach the agent's side just after the command has exited.
      while (nudges === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(nudges, 1);
    } finally {
      await new Promise((resolve) => trigger.close(resolve));
    }
  });

  it('-bs: stdin ending in the middle of a message abandons it at once, storing nothing', async () => {
    const home = await freshHome();
    const started = Date.now();
    const result = await sendmail(home, ['-bs'], 'HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: s\r\n\r\nhalf a mes');
    assert.ok(Date.now() - started < 20_000, 'no wait for the socket timeout');
    assert.match(result.stdout, /^354 /m);
    assert.doesNotMatch(result.stdout, /^250 .*queued/im);
    assert.equal(result.code, 65, 'the exit status says the message was not queued');
    assert.match(result.stderr, /not queued/);
    assert.equal(await entryCount(home), 0);
  });

  it('-bs: LF-only input ends a message only at CRLF.CRLF, as the listener does: its "." is text, so the message is abandoned at the end of stdin, exit 65', async () => {
    const home = await freshHome();
    const result = await sendmail(home, ['-bs'], 'HELO x\nMAIL FROM:<a@b.example>\nRCPT TO:<d@e.example>\nDATA\nSubject: x\n\nhi\n.\n');
    assert.equal(result.code, 65, result.stderr);
    assert.match(result.stderr, /not queued/);
    assert.deepEqual(parseReplies(result.stdout).replies.map((r) => r.code), [220, 250, 250, 250, 354]);
    assert.equal(await entryCount(home), 0);
  });

  it('-bs ends the session cleanly when stdin ends without QUIT', async () => {
    const home = await freshHome();
    const result = await sendmail(home, ['-bs'], 'HELO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\n');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(parseReplies(result.stdout).replies.map((r) => r.code), [220, 250, 250, 250, 354, 250, 221]);
    assert.equal(await entryCount(home), 1);
  });

  describe('with a smarthost', () => {
    let smarthost: CaptureServer;
    before(async () => {
      smarthost = await startCaptureServer();
    });
    after(() => smarthost.close());

    it('-q flushes the queue now and exits with the flush result', async () => {
      const home = await freshHome({ smarthost: smarthost.url, from: 'list@example.org' });
      assert.equal((await sendmail(home, ['q1@example.net'], COMPLETE)).code, 0);
      const flush = await sendmail(home, ['-q']);
      assert.equal(flush.code, 0, flush.stderr);
      assert.ok(smarthost.messages.some((m) => m.to.includes('q1@example.net')));
      assert.equal(await entryCount(home), 0);
    });

    it('-odi with no agent running delivers before exiting', async () => {
      const home = await freshHome({ smarthost: smarthost.url });
      const result = await sendmail(home, ['-odi', '-oi', 'odi@example.net'], COMPLETE);
      assert.equal(result.code, 0, result.stderr);
      const got = smarthost.messages.find((m) => m.to.includes('odi@example.net'));
      assert.ok(got, 'delivered before exit');
      assert.equal(got.raw.toString().replace(/\r\n/g, '\n'), COMPLETE);
    });

    it('-odb with no agent running starts a background flush', async () => {
      const home = await freshHome({ smarthost: smarthost.url });
      const before = smarthost.messages.length;
      const result = await sendmail(home, ['-odb', 'odb@example.net'], COMPLETE);
      assert.equal(result.code, 0, result.stderr);
      await smarthost.waitForMessages(before + 1, 30_000);
      assert.ok(smarthost.messages.some((m) => m.to.includes('odb@example.net')));
    });

    it('-odq (the default) only queues', async () => {
      const home = await freshHome({ smarthost: smarthost.url });
      const before = smarthost.messages.length;
      assert.equal((await sendmail(home, ['-odq', 'odq@example.net'], COMPLETE)).code, 0);
      assert.equal(await entryCount(home), 1);
      assert.equal(smarthost.messages.length, before);
    });
  });
});
