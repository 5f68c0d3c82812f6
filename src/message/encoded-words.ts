/**
 * RFC 2047 encoded-words ("=?UTF-8?Q?caf=C3=A9?=") decoded for display
 * (the Subject shown by `status`). Display only: the stored message is never
 * rewritten. An encoded-word that cannot be decoded (unknown charset, bad
 * base64) is left as written; this never throws.
 *
 * Encoding (a display name we add, a DSN's Subject): UTF-8 B words of at
 * most 75 characters that never split a character, word for word what
 * nodemailer's mime-funcs `encodeWord(text, 'B', 75)` gives (the encoder
 * every message nodemailer builds goes through; test/message/headers.test.ts
 * compares the two). Written here because importing mime-funcs for it
 * loaded its MIME-type table and its other encoders into every process
 * that prepares a message: ~0.5 MiB of heap kept for the life of
 * `bulkmailer listen` (docs/performance.md, "`bulkmailer listen`'s
 * start-up state").
 */

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
// White space between two adjacent encoded-words is not displayed (RFC 2047 section 6.2).
const BETWEEN_ENCODED_WORDS = /(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)/g;

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '_') bytes.push(0x20);
    else if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(ch.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

function decodeWord(whole: string, charset: string, encoding: string, text: string): string {
  try {
    const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQ(text);
    // RFC 2231 allows a language suffix: "UTF-8*en".
    const label = charset.split('*')[0] as string;
    return new TextDecoder(label).decode(bytes);
  } catch {
    return whole;
  }
}

export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value
    .replace(BETWEEN_ENCODED_WORDS, '$1')
    .replace(ENCODED_WORD, (whole, charset: string, encoding: string, text: string) =>
      decodeWord(whole, charset, encoding, text),
    );
}

/** Encodes a display name for a header: as is when plain ASCII, else one UTF-8 B encoded-word. */
export function encodeDisplayName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x7e]*$/.test(name)) {
    if (/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$/.test(name)) return name;
    return `"${name.replace(/(["\\])/g, '\\$1')}"`;
  }
  return encodedWords(name).join(' ');
}

/**
 * The longest an encoded-word may be is 75 characters (RFC 2047 section 2):
 * `=?UTF-8?B?` and `?=` leave 63 for base64, whole groups of 4, so 45 bytes.
 */
const WORD_BYTES = 45;

/** UTF-8 B encoded-words for `text`, each at most 75 characters, whole characters only. */
export function encodedWords(text: string): string[] {
  if (text === '') return [];
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  // By code point: a surrogate pair stays whole (RFC 2047 6.3: an integral number of characters).
  for (const character of text) {
    const size = Buffer.byteLength(character);
    if (bytes + size > WORD_BYTES && chunk !== '') {
      chunks.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += character;
    bytes += size;
  }
  chunks.push(chunk);
  return chunks.map((part) => `=?UTF-8?B?${Buffer.from(part, 'utf8').toString('base64')}?=`);
}
