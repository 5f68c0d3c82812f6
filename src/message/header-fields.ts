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
  /** Unfolded value without the leading white space (UTF-8; bad bytes become U+FFFD). */
  value: string;
}

/** A line that starts a header field: field-name (printable ASCII but ':'), optional WSP, ':'. */
const FIELD_START = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;

export function isContinuationLine(line: Buffer): boolean {
  return line.length > 0 && (line[0] === 0x20 || line[0] === 0x09);
}

/** The field name if `line` starts a header field, else null. */
export function fieldNameOf(line: Buffer): string | null {
  // Only the start of the line matters; field names are short.
  const start = line.subarray(0, Math.min(line.length, 1000)).toString('latin1');
  const match = FIELD_START.exec(start);
  return match ? (match[1] as string) : null;
}

function stripLineEnding(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Builds a field from its first line and continuation lines (each with its line ending). */
export function makeHeaderField(name: string, lines: Buffer[]): HeaderField {
  const raw = lines.length === 1 ? (lines[0] as Buffer) : Buffer.concat(lines);
  const text = raw.toString('utf8');
  const afterColon = text.slice(text.indexOf(':') + 1);
  // Unfolding (RFC 5322 2.2.3): remove the CRLF that precedes folding white space.
  const value = stripLineEnding(afterColon)
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/^[ \t]+/, '')
    .replace(/[ \t]+$/, '');
  return { name, raw, value };
}

export function isHeaderNamed(field: HeaderField, name: string): boolean {
  return field.name.toLowerCase() === name.toLowerCase();
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
