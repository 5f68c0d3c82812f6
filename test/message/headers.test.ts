/**
 * src/message: splitting the header block off a stream, parsing and
 * unfolding fields, -t recipients (groups, Resent-*), Bcc removal, added
 * Date/Message-ID/From, RFC 2047 subjects, and the bytes staying as given.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeWord as nodemailerEncodeWord } from 'nodemailer/lib/mime-funcs';
import { decodeEncodedWords, encodeDisplayName, encodedWords } from '../../src/message/encoded-words.js';
import { findHeader, headerValues } from '../../src/message/header-fields.js';
import { recipientsFromHeaders } from '../../src/message/header-recipients.js';
import { formatFromValue, formatRfc5322Date, newMessageId } from '../../src/message/new-headers.js';
import { prepareMessage } from '../../src/message/prepare-message.js';
import { splitMessageHead } from '../../src/message/split-head.js';
import { untilLoneDot } from '../../src/frontends/sendmail/lone-dot.js';
import { BulkmailerError } from '../../src/errors.js';

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return Buffer.concat(out);
}

/** The input cut into chunks of `size` bytes, to cross every boundary. */
async function* chunked(text: string | Buffer, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function isDataError(code: string) {
  return (err: unknown) => err instanceof BulkmailerError && err.code === code && err.exitCode === 65;
}

describe('header fields', () => {
  it('unfolds values and finds names case-insensitively', async () => {
    const { fields } = await splitMessageHead(Buffer.from('SUBJECT: one\r\n two\r\n\tthree\r\nTo: a@x.org\r\nto: b@x.org\r\n\r\n'));
    assert.equal(fields.length, 3);
    assert.equal(findHeader(fields, 'subject')?.value, 'one two\tthree');
    assert.deepEqual(headerValues(fields, 'TO'), ['a@x.org', 'b@x.org']);
    assert.equal(findHeader(fields, 'subject')?.raw.toString(), 'SUBJECT: one\r\n two\r\n\tthree\r\n');
  });

  it('keeps each one-line field as a view of the input chunk, and every field of one shape with its value on the prototype', async () => {
    // The listener's usual case: the whole message in one chunk. Copying every header
    // line, and an accessor defined per field, were most of the header split's cost.
    // A chunk of its own (not a slice of Node's shared pool, where a copy would share its ArrayBuffer too).
    const text = 'From: a@x.org\r\nTo: b@x.org,\r\n c@x.org\r\nSubject: hi\r\n\r\nbody\r\n';
    const chunk = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
    chunk.write(text);
    const { fields, separator } = await splitMessageHead(chunk);
    assert.deepEqual(fields.map((f) => f.name), ['From', 'To', 'Subject']);
    const from = fields[0]!;
    const subject = fields[2]!;
    for (const single of [from, subject]) {
      assert.equal(single.raw.buffer, chunk.buffer, `${single.name}: a view, not a copy`);
    }
    assert.equal(separator?.buffer, chunk.buffer);
    assert.equal(subject.raw.toString(), 'Subject: hi\r\n');
    assert.equal(fields[1]!.raw.toString(), 'To: b@x.org,\r\n c@x.org\r\n');
    assert.equal(fields[1]!.value, 'b@x.org, c@x.org');
    assert.equal(Object.getPrototypeOf(from), Object.getPrototypeOf(subject));
    assert.equal(Object.getOwnPropertyDescriptor(from, 'value'), undefined, 'value is the shared getter, not an accessor per field');
    assert.throws(() => {
      (from as { value: string }).value = 'x';
    }, TypeError);
    assert.equal(from.value, 'a@x.org');
  });

  it('decodes RFC 2047 subjects for display', () => {
    assert.equal(decodeEncodedWords('=?UTF-8?Q?caf=C3=A9_cr=C3=A8me?='), 'café crème');
    assert.equal(decodeEncodedWords('=?utf-8?B?w6nDqQ==?= =?utf-8?B?w6k=?= plain'), 'ééé plain');
    assert.equal(decodeEncodedWords('=?ISO-8859-1?Q?na=EFve?='), 'naïve');
    assert.equal(decodeEncodedWords('=?x-unknown?Q?abc?='), '=?x-unknown?Q?abc?=');
    assert.equal(decodeEncodedWords('no words'), 'no words');
  });

  it('encodes display names only when needed', () => {
    assert.equal(encodeDisplayName('Ada Lovelace'), 'Ada Lovelace');
    assert.equal(encodeDisplayName('Lovelace, Ada'), '"Lovelace, Ada"');
    assert.equal(decodeEncodedWords(encodeDisplayName('Zoë Ünïcode')), 'Zoë Ünïcode');
    const long = 'é'.repeat(60);
    const encoded = encodeDisplayName(long);
    for (const word of encoded.split(' ')) assert.ok(word.length <= 75, word);
    assert.equal(decodeEncodedWords(encoded), long);
    assert.equal(formatFromValue('a@x.org', 'Ada'), 'Ada <a@x.org>');
    assert.equal(formatFromValue('a@x.org', null), 'a@x.org');
  });

  it("encodes words exactly as nodemailer's encodeWord(text, 'B', 75) does", () => {
    const samples = ['', 'a', 'Zoë', 'é'.repeat(16), 'é'.repeat(17), 'é'.repeat(23), 'é'.repeat(60), 'x'.repeat(33), 'x'.repeat(34), 'x'.repeat(45), 'x'.repeat(46), '€'.repeat(15), '€'.repeat(16), '😀'.repeat(11), '😀'.repeat(12), 'a😀'.repeat(20), '漢字テスト'.repeat(9), '\ud800', 'a\ud800b'.repeat(12), '\udc00\ud83d\ude00'.repeat(9)];
    // Random strings of 1- to 4-byte characters and lone surrogates, from a fixed seed.
    const alphabet = ['a', ' ', 'é', 'ß', '€', '漢', '😀', '𝄞', '\ud800', '\udfff'];
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 400; n++) samples.push(Array.from({ length: 1 + (next() % 90) }, () => alphabet[next() % alphabet.length]).join(''));
    for (const text of samples) {
      const theirs = text === '' ? [] : nodemailerEncodeWord(text, 'B', 75).split(' ');
      assert.deepEqual(encodedWords(text), theirs, JSON.stringify(text));
    }
  });

  it('formats dates and message ids as RFC 5322 wants', () => {
    assert.match(formatRfc5322Date(new Date()), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d [+-]\d{4}$/);
    const a = newMessageId('example.org');
    assert.match(a, /^<[0-9a-z]+\.[0-9a-f]{24}@example\.org>$/);
    assert.notEqual(a, newMessageId('example.org'));
    assert.match(newMessageId('bad domain'), /@bulkmailer\.invalid>$/);
  });
});

describe('-t recipients', () => {
  it('reads To, Cc and Bcc with names, groups and several fields', async () => {
    const { fields } = await splitMessageHead(
      'To: "Doe, Jane" <jane@x.org>, bob@y.org\n' +
        'Cc: team: c1@z.org, c2@z.org;, undisclosed-recipients:;\n' +
        'Bcc: hidden@w.org\n' +
        'To: second@x.org\n' +
        'From: me@x.org\n\n',
    );
    assert.deepEqual(recipientsFromHeaders(fields), [
      'jane@x.org',
      'bob@y.org',
      'second@x.org',
      'c1@z.org',
      'c2@z.org',
      'hidden@w.org',
    ]);
  });

  it('uses the Resent- fields instead when the message is being resent', async () => {
    const { fields } = await splitMessageHead('To: old@x.org\nResent-To: new@x.org\nResent-Bcc: b@x.org\n\n');
    assert.deepEqual(recipientsFromHeaders(fields), ['new@x.org', 'b@x.org']);
  });
});

describe('splitting the header block from a stream', () => {
  const message = 'From: a@x.org\r\nSubject: s\r\n  folded\r\n\r\nbody line 1\r\n\r\nbody: not a header\r\n';

  it('splits at the first empty line whatever the chunk size, leaving the body untouched', async () => {
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const split = await splitMessageHead(chunked(message, size));
      assert.deepEqual(split.fields.map((f) => f.name), ['From', 'Subject']);
      assert.equal(split.eol, '\r\n');
      assert.equal(split.separator?.toString(), '\r\n');
      assert.equal((await collect(split.body)).toString(), 'body line 1\r\n\r\nbody: not a header\r\n');
    }
  });

  it('accepts a header-only message, with or without a final line ending', async () => {
    for (const text of ['Subject: only\n', 'Subject: only']) {
      const split = await splitMessageHead(text);
      assert.equal(split.separator, null);
      assert.equal(split.fields[0]?.value, 'only');
      assert.equal(split.unterminatedLastLine, !text.endsWith('\n'));
    }
  });

  it('refuses a message whose header block has a line that is not a field (exit 65)', async () => {
    await assert.rejects(splitMessageHead('Subject: x\nthis is body text\n\nmore\n'), isDataError('E_NO_SEPARATOR'));
    await assert.rejects(splitMessageHead('just a body\n'), isDataError('E_NO_SEPARATOR'));
  });

  it('with nonHeaderStartsBody, a non-header line starts the body and a separator is inserted', async () => {
    const collect = async (body: AsyncIterable<Buffer>) => {
      const parts: Buffer[] = [];
      for await (const part of body) parts.push(part);
      return Buffer.concat(parts).toString();
    };
    const mixed = await splitMessageHead('Subject: x\r\nthis is body text\r\n\r\nmore\r\n', { nonHeaderStartsBody: true });
    assert.deepEqual(mixed.fields.map((f) => f.name), ['Subject']);
    assert.equal(mixed.separator?.toString(), '\r\n');
    assert.equal(await collect(mixed.body), 'this is body text\r\n\r\nmore\r\n');
    for (const text of ['just a body\n', 'just a body']) {
      const bare = await splitMessageHead(text, { nonHeaderStartsBody: true });
      assert.deepEqual(bare.fields, []);
      assert.equal(bare.separator?.toString(), '\n');
      assert.equal(await collect(bare.body), text);
    }
  });

  it('tells a field name by its octets: printable ASCII but ":", optional WSP, then ":" within the first 1000 octets', async () => {
    const kinds = async (line: string) => {
      const split = await splitMessageHead(`${line}\nrest: of it\n\nbody\n`, { nonHeaderStartsBody: true });
      return split.fields.map((f) => f.name);
    };
    assert.deepEqual(await kinds('Subject \t: x'), ['Subject', 'rest']);
    assert.deepEqual(await kinds('X-Odd!#$%&*+/=?^_`{|}~-name: x'), ['X-Odd!#$%&*+/=?^_`{|}~-name', 'rest']);
    assert.deepEqual(await kinds(`${'n'.repeat(990)}: x`), ['n'.repeat(990), 'rest']);
    for (const notAField of [': no name', 'Sub ject: x', 'X-Caf\u00e9: x', 'Subject x', `${'n'.repeat(1000)}: x`, `Subject${' '.repeat(995)}: x`]) {
      assert.deepEqual(await kinds(notAField), [], notAField);
    }
  });

  it('bounds the header block without reading the rest (exit 65)', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) {
        pulled++;
        yield Buffer.from(`X-Filler: ${'x'.repeat(1000)}\n`);
      }
    }
    await assert.rejects(splitMessageHead(endless(), { maxHeadBytes: 64 * 1024 }), isDataError('E_HEADER_TOO_LONG'));
    assert.ok(pulled < 70, `read ${pulled} chunks`);
    // One endless line without a newline is bounded too.
    async function* oneLine(): AsyncGenerator<Buffer> {
      for (;;) yield Buffer.from('X'.repeat(4096));
    }
    await assert.rejects(splitMessageHead(oneLine(), { maxHeadBytes: 64 * 1024 }), isDataError('E_HEADER_TOO_LONG'));
  });

  it('can skip a leading mbox "From " line', async () => {
    const split = await splitMessageHead('From abc Mon Sep 17 00:00:00 2001\nSubject: x\n\nb\n', { skipMboxFromLine: true });
    assert.deepEqual(split.fields.map((f) => f.name), ['Subject']);
  });
});

describe('preparing a message', () => {
  const now = new Date('2025-03-04T05:06:07Z');

  it('leaves a complete message byte for byte (8-bit body, odd folding, bare LF)', async () => {
    const text = Buffer.concat([
      Buffer.from('From: a@x.org\nTo: b@y.org\nDate: Mon, 3 Mar 2025 10:00:00 +0000\nMessage-ID: <1@x.org>\nSubject: =?UTF-8?Q?h=C3=A9?=\n\t folded\n\n'),
      Buffer.from([0xe9, 0x80, 0xff, 0x0a, 0x2e, 0x0a]),
    ]);
    const prepared = await prepareMessage(chunked(text, 5), { removeBcc: true, addDateAndMessageId: true, fromValue: 'z@z.org', now });
    assert.equal(prepared.rewritten, false);
    assert.deepEqual(await collect(prepared.message), text);
    assert.equal(prepared.messageId, '<1@x.org>');
    assert.equal(prepared.subject, 'hé\t folded');
  });

  it('removes Bcc (folded too) and adds Date, Message-ID and From in the message\'s line ending', async () => {
    const text = 'To: b@y.org\r\nBcc: hidden@w.org,\r\n other@w.org\r\nSubject: s\r\n\r\nbody\r\n';
    const prepared = await prepareMessage(text, {
      removeBcc: true,
      addDateAndMessageId: true,
      fromValue: 'Ada <ada@x.org>',
      messageIdDomain: 'x.org',
      now,
    });
    const out = (await collect(prepared.message)).toString();
    assert.deepEqual(prepared.headerRecipients, ['b@y.org', 'hidden@w.org', 'other@w.org']);
    assert.equal(out.includes('Bcc'), false);
    assert.match(out, /^To: b@y\.org\r\nSubject: s\r\nFrom: Ada <ada@x\.org>\r\nDate: [^\r\n]+\r\nMessage-ID: <[^>]+@x\.org>\r\n\r\nbody\r\n$/);
    assert.equal(prepared.messageId, /Message-ID: (<[^>]+>)/.exec(out)?.[1]);
  });

  it('ends an unterminated last header line before adding fields', async () => {
    const prepared = await prepareMessage('Subject: only', { addDateAndMessageId: true, now });
    assert.match((await collect(prepared.message)).toString(), /^Subject: only\nDate: .+\nMessage-ID: .+\n$/);
  });

  it('adds headers before a body that has no header fields', async () => {
    const prepared = await prepareMessage('\nbody only\n', { fromValue: 'a@x.org', now });
    assert.equal((await collect(prepared.message)).toString(), 'From: a@x.org\n\nbody only\n');
  });

  it('refuses a NUL in the header block and breaks an overlong header line, as in the body', async () => {
    const withNul = await prepareMessage('Subject: a\0b\n\nbody\n');
    await assert.rejects(collect(withNul.message), isDataError('E_NUL_BYTE'));
    const long = `X-Long: ${'v'.repeat(1200)}`;
    const prepared = await prepareMessage(chunked(`${long}\r\n\r\nbody\r\n`, 7));
    const out = (await collect(prepared.message)).toString();
    assert.equal(out, `${long.slice(0, 998)}\r\n ${long.slice(998)}\r\n\r\nbody\r\n`);
  });

  it('gives the same bytes and fields however the message is cut into chunks (line limit, Bcc, folding, CRLF)', async () => {
    const text = Buffer.from(
      `Subject: cut\r\n\there\r\nBcc: hidden@w.org,\r\n other@w.org\r\nTo: b@y.org\r\nX-Long: ${'v'.repeat(1010)}\r\n` +
        `Message-ID: <cut@x.org>\r\n\r\n${'b'.repeat(1005)}\r\nlast\r\n`,
    );
    const options = { removeBcc: true, fromValue: 'a@x.org', now };
    const whole = await prepareMessage(chunked(text, text.length), options);
    const expected = await collect(whole.message);
    assert.ok(expected.includes('v\r\n v'), 'the long header line is broken');
    assert.ok(!expected.includes('hidden'), 'Bcc removed');
    assert.deepEqual(whole.headerRecipients, ['b@y.org', 'hidden@w.org', 'other@w.org']);
    for (let cut = 1; cut < text.length; cut++) {
      async function* twoChunks(): AsyncGenerator<Buffer> {
        yield text.subarray(0, cut);
        yield text.subarray(cut);
      }
      const prepared = await prepareMessage(twoChunks(), options);
      assert.deepEqual(await collect(prepared.message), expected, `cut at ${cut}`);
      assert.equal(prepared.subject, whole.subject, `cut at ${cut}`);
      assert.equal(prepared.messageId, '<cut@x.org>', `cut at ${cut}`);
      assert.deepEqual(prepared.headerRecipients, whole.headerRecipients, `cut at ${cut}`);
    }
  });

  it('reports an empty input', async () => {
    assert.equal((await prepareMessage('')).empty, true);
    assert.equal((await prepareMessage('\n')).empty, false);
  });
});

describe('the prepared message as an iterator', () => {
  /** An input of these chunks (an Error is thrown by next() in its place) that counts its return() calls. */
  function input(chunks: (string | Error)[]) {
    let at = 0;
    const counts = { returned: 0 };
    const iterator: AsyncIterableIterator<Buffer> = {
      [Symbol.asyncIterator]() {
        return iterator;
      },
      async next() {
        const chunk = chunks[at++];
        if (chunk === undefined) return { value: undefined, done: true };
        if (chunk instanceof Error) throw chunk;
        return { value: Buffer.from(chunk), done: false };
      },
      async return() {
        counts.returned++;
        return { value: undefined, done: true };
      },
    };
    return { iterator, counts };
  }

  it('is a plain iterator (no async generator per layer), and yields the header block, then each body chunk', async () => {
    const { iterator, counts } = input(['Subject: a\r\n\r\nfirst\r\n', 'second\r\n']);
    const prepared = await prepareMessage(iterator);
    assert.notEqual(Object.prototype.toString.call(prepared.message), '[object AsyncGenerator]');
    const chunks: string[] = [];
    for await (const chunk of prepared.message) chunks.push(chunk.toString());
    assert.deepEqual(chunks, ['Subject: a\r\n\r\n', 'first\r\n', 'second\r\n']);
    assert.equal(counts.returned, 0, 'an input read to its end is not returned');
    assert.deepEqual(await prepared.message[Symbol.asyncIterator]().next(), { value: undefined, done: true });
  });

  it('releases its input when the reader stops early', async () => {
    const { iterator, counts } = input(['Subject: a\r\n\r\n', 'first\r\n', 'second\r\n']);
    const prepared = await prepareMessage(iterator);
    for await (const chunk of prepared.message) {
      assert.equal(chunk.toString(), 'Subject: a\r\n\r\n');
      break;
    }
    assert.equal(counts.returned, 1);
  });

  it('releases its input when the line limit refuses a chunk, and then ends', async () => {
    const { iterator, counts } = input(['Subject: a\r\n\r\n', 'ok\r\n', 'a\0b\r\n', 'never read\r\n']);
    const prepared = await prepareMessage(iterator);
    await assert.rejects(collect(prepared.message), isDataError('E_NUL_BYTE'));
    assert.equal(counts.returned, 1);
    assert.deepEqual(await prepared.message[Symbol.asyncIterator]().next(), { value: undefined, done: true });
  });

  it('releases its input when the input fails, and passes the failure on', async () => {
    const broken = new Error('read failed');
    const { iterator, counts } = input(['Subject: a\r\n\r\nbody\r\n', broken]);
    const prepared = await prepareMessage(iterator);
    await assert.rejects(collect(prepared.message), (err) => err === broken);
    assert.equal(counts.returned, 1);
  });
});

describe('lone dot (sendmail without -i)', () => {
  const cases: [string, string][] = [
    ['a\n.\nafter\n', 'a\n'],
    ['a\r\n.\r\nafter\r\n', 'a\r\n'],
    ['.\n', ''],
    ['a\n..\nb\n', 'a\n..\nb\n'],
    ['a\n.b\n. \n', 'a\n.b\n. \n'],
    ['a\n.', 'a\n'],
    ['no end\n', 'no end\n'],
    ['x.\n.\r\n', 'x.\n'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)} at every chunk size`, async () => {
      for (const size of [1, 2, 3, 100]) {
        assert.equal((await collect(untilLoneDot(chunked(input, size)))).toString(), expected, `chunk size ${size}`);
      }
    });
  }
});
