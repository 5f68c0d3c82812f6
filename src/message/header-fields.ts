/**
 * RFC 5322 header fields as parsed from a message's header block: each field
 * keeps its exact bytes (folding and line endings included) so that a
 * message can be rewritten by dropping or appending whole fields without
 * re-encoding anything else. Values are unfolded for reading.
 *
 * Pure functions over buffers; they never throw (the header block was
 * already checked line by line by split-head.ts, the one parser of header
 * blocks: tests parse through it too).
 */

export interface HeaderField {
  /** The field name as written ("Message-ID"). */
  name: string;
  /** Exact bytes of the field: its first line, continuation lines and line endings. */
  raw: Buffer;
  /** Unfolded value without the leading white space (UTF-8; bad bytes become U+FFFD); worked out when first read. */
  readonly value: string;
}

const COLON = 0x3a;
const NAME_SCAN = 1000;

/** A field-name octet: printable ASCII except ':' (RFC 5322 2.2). */
function isNameOctet(byte: number): boolean {
  return byte >= 0x21 && byte <= 0x7e && byte !== COLON;
}

export function isContinuationLine(line: Buffer): boolean {
  return line.length > 0 && (line[0] === 0x20 || line[0] === 0x09);
}

/**
 * The field name if `line` starts a header field (field-name, optional
 * WSP, ':'), else null. Scans the octets: called for every header line of
 * every message, it makes no string of the line.
 */
export function fieldNameOf(line: Buffer): string | null {
  // Only the start of the line matters: a colon past NAME_SCAN octets starts no field.
  const limit = Math.min(line.length, NAME_SCAN);
  let end = 0;
  while (end < limit && isNameOctet(line[end]!)) end++;
  if (end === 0) return null;
  let at = end;
  while (at < limit && (line[at] === 0x20 || line[at] === 0x09)) at++;
  return at < limit && line[at] === COLON ? line.toString('latin1', 0, end) : null;
}

function stripLineEnding(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Unfolds a field's raw bytes into its value (RFC 5322 2.2.3). */
function unfoldValue(raw: Buffer): string {
  const text = raw.toString('utf8');
  const afterColon = text.slice(text.indexOf(':') + 1);
  // Unfolding: remove the CRLF that precedes folding white space.
  return stripLineEnding(afterColon)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/^[ \t]+/, '')
    .replace(/[ \t]+$/, '');
}

/**
 * A field: its name, its exact bytes, and its value unfolded when first
 * read (most fields of a message, Received, DKIM-Signature, List-*, are
 * stored and never read). A class, so every field shares one shape and the
 * getter lives on the prototype: an object literal with a getter made a
 * closure and an accessor definition per field, on every header line of
 * every message (docs/performance.md, "The listener's CPU per message").
 */
class ParsedHeaderField implements HeaderField {
  private unfolded: string | undefined = undefined;

  constructor(
    readonly name: string,
    readonly raw: Buffer,
  ) {}

  get value(): string {
    return (this.unfolded ??= unfoldValue(this.raw));
  }
}

/** Builds a field from its first line and continuation lines (each with its line ending). */
export function makeHeaderField(name: string, lines: Buffer[]): HeaderField {
  return new ParsedHeaderField(name, lines.length === 1 ? (lines[0] as Buffer) : Buffer.concat(lines));
}

export function isHeaderNamed(field: HeaderField, name: string): boolean {
  // The length first: most names differ in it, and then no lower-cased copies are made.
  return field.name.length === name.length && field.name.toLowerCase() === name.toLowerCase();
}

/** The first field of that name (case-insensitive), or undefined. */
export function findHeader(fields: readonly HeaderField[], name: string): HeaderField | undefined {
  return fields.find((field) => isHeaderNamed(field, name));
}

/** Every value of fields of that name, in order. */
export function headerValues(fields: readonly HeaderField[], name: string): string[] {
  return fields.filter((field) => isHeaderNamed(field, name)).map((field) => field.value);
}

export function hasHeader(fields: readonly HeaderField[], name: string): boolean {
  return findHeader(fields, name) !== undefined;
}
