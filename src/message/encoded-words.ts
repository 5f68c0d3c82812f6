/**
 * RFC 2047 encoded-words ("=?UTF-8?Q?caf=C3=A9?=") decoded for display
 * (the Subject shown by `status`). Display only: the stored message is never
 * rewritten. An encoded-word that cannot be decoded (unknown charset, bad
 * base64) is left as written; this never throws.
 *
 * Encoding (a display name we add, a DSN's Subject) is nodemailer's
 * mime-funcs: UTF-8 B words of at most 75 characters that never split a
 * character, the encoder every message nodemailer builds goes through.
 */
import { encodeWord } from 'nodemailer/lib/mime-funcs';

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

/** The longest an encoded-word may be (RFC 2047 section 2). */
const MAX_ENCODED_WORD = 75;

/** UTF-8 B encoded-words for `text`, each at most 75 characters, whole characters only. */
export function encodedWords(text: string): string[] {
  if (text === '') return [];
  // B words contain no spaces: nodemailer joins the words it made with one.
  return encodeWord(text, 'B', MAX_ENCODED_WORD).split(' ');
}
