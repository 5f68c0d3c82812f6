/**
 * The arguments of the intake's commands, as smtp-server read them for us
 * before (so that clients see the same answers): `MAIL FROM:<path>` and
 * `RCPT TO:<path>` with ESMTP parameters (KEY or KEY=xtext, RFC 3461
 * 4), a source route ignored (RFC 5321 4.1.2), the EHLO/HELO hostname.
 * Whether an address is one we take (local@domain) is the caller's
 * question; here only its form. Pure; answers null for a line it cannot
 * read, never throws.
 */

/**
 * Control characters, C0, DEL and C1 (U+0080-U+009F, Unicode's other
 * controls: U+009B is a terminal's CSI): they have no use in an address, a
 * parameter, a host or user name or a reply, and could split a reply or
 * a log line or drive the terminal that shows it. One definition for the
 * intake (commands here, replies in intake-connection.ts, AUTH's user name
 * in sasl-exchange.ts).
 */
export const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
/** The same, every occurrence (for replace()). */
export const CONTROLS = new RegExp(CONTROL.source, 'g');
const MAX_HELO_NAME = 300;

/** A command line's words, as smtp-server split them (runs of white space, ends trimmed). */
export function words(line: string): string[] {
  return line.trim().split(/\s+/);
}

/** The 552 for a message over the limit, at MAIL's SIZE or after the final dot (smtp-server's text). */
export function tooBig(maxSize: number): { code: number; text: string } {
  return { code: 552, text: `Error: message exceeds fixed maximum message size ${maxSize}` };
}

export interface PathCommand {
  /** The address between the angle brackets, without a source route; '' for the null path <>. */
  address: string;
  /** Parameters by upper-case name: the xtext-decoded value, or true for a bare keyword. */
  params: Map<string, string | true>;
  /** A parameter given twice (a 501). */
  duplicate: string | null;
}

function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** `MAIL FROM:<a@b> SIZE=10` (verb 'MAIL FROM') or `RCPT TO:<a@b>` (verb 'RCPT TO'); null when it cannot be read. */
export function parsePathCommand(line: string, verb: 'MAIL FROM' | 'RCPT TO'): PathCommand | null {
  const colon = line.indexOf(':');
  if (colon < 0 || line.slice(0, colon).trim().toUpperCase() !== verb) return null;
  const parts = words(line.slice(colon + 1));
  const path = parts[0] ?? '';
  if (path.length < 2 || path[0] !== '<' || path[path.length - 1] !== '>') return null;
  const address = path.slice(1, -1).replace(/^@[^\s,:@]+(?:,@[^\s,:@]+)*:/, '');
  if (address.includes('<') || address.includes('>') || CONTROL.test(address)) return null;
  const params = new Map<string, string | true>();
  let duplicate: string | null = null;
  for (let i = 1; i < parts.length; i++) {
    const word = parts[i] as string;
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).toUpperCase();
    if (key === '') continue;
    const value = eq < 0 || eq === word.length - 1 ? true : decodeXtext(word.slice(eq + 1));
    if (value !== true && CONTROL.test(value)) return null;
    if (params.has(key)) duplicate = key;
    params.set(key, value);
  }
  return { address, params, duplicate };
}

/** The hostname of `EHLO name` / `HELO name`; null unless there is exactly one acceptable argument. */
export function parseHeloName(line: string): string | null {
  const parts = words(line);
  if (parts.length !== 2) return null;
  const name = parts[1] as string;
  return name.length <= MAX_HELO_NAME && !CONTROL.test(name) ? name : null;
}

/** Why MAIL's parameters are refused (a 501 or 552 reply), or null when they are fine. */
export function checkMailParams(params: Map<string, string | true>, maxSize: number): { code: number; text: string } | null {
  const size = params.get('SIZE');
  if (size !== undefined) {
    if (size === true || !/^\d{1,20}$/.test(size)) return { code: 501, text: 'Error: Bad message size syntax' };
    if (maxSize > 0 && Number(size) > maxSize) {
      return tooBig(maxSize);
    }
  }
  const body = params.get('BODY');
  if (body !== undefined && (body === true || !/^(7bit|8bitmime)$/i.test(body))) {
    return { code: 501, text: 'Invalid BODY parameter value. Must be 7BIT or 8BITMIME' };
  }
  const utf8 = params.get('SMTPUTF8');
  if (utf8 !== undefined && utf8 !== true) {
    return { code: 501, text: 'Invalid SMTPUTF8 parameter. This flag does not accept a value' };
  }
  return null;
}
