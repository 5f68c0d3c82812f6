/**
 * Just enough of Apple's XML property list format for our LaunchAgent:
 * rendering (dict, array, string, integer, boolean) and a strict parser
 * that `autostart status` uses to read the installed file back and tests use
 * to check it is well formed (every tag closed, keys paired with values).
 * No dependency; plutil is not available off macOS.
 *
 * parsePlist throws a plain Error naming the offset of the first problem.
 */

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

const HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n';

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function unescapeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) => {
    switch (name) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      case 'amp':
        return '&';
      default:
        return String.fromCodePoint(name.startsWith('#x') ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
    }
  });
}

function renderValue(value: PlistValue, indent: string): string {
  if (typeof value === 'string') return `${indent}<string>${escapeXml(value)}</string>\n`;
  if (typeof value === 'number') return `${indent}<integer>${Math.trunc(value)}</integer>\n`;
  if (typeof value === 'boolean') return `${indent}<${value}/>\n`;
  if (Array.isArray(value)) {
    return `${indent}<array>\n${value.map((v) => renderValue(v, `${indent}\t`)).join('')}${indent}</array>\n`;
  }
  const body = Object.entries(value)
    .map(([k, v]) => `${indent}\t<key>${escapeXml(k)}</key>\n${renderValue(v, `${indent}\t`)}`)
    .join('');
  return `${indent}<dict>\n${body}${indent}</dict>\n`;
}

/** A complete plist document; `comment` goes right after the DOCTYPE. */
export function renderPlist(root: { [key: string]: PlistValue }, comment?: string): string {
  const note = comment === undefined ? '' : `<!-- ${comment.replace(/--/g, '- -')} -->\n`;
  return `${HEADER}${note}<plist version="1.0">\n${renderValue(root, '')}</plist>\n`;
}

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(what: string): never {
    throw new Error(`plist: ${what} at offset ${this.pos}`);
  }

  skipMisc(): void {
    for (;;) {
      const rest = this.text.slice(this.pos);
      const ws = /^\s+/.exec(rest);
      if (ws) {
        this.pos += ws[0].length;
        continue;
      }
      const skip = (open: string, close: string) => {
        if (!rest.startsWith(open)) return false;
        const end = this.text.indexOf(close, this.pos + open.length);
        if (end < 0) this.fail(`unterminated ${open}`);
        this.pos = end + close.length;
        return true;
      };
      if (skip('<?', '?>') || skip('<!--', '-->') || skip('<!DOCTYPE', '>')) continue;
      return;
    }
  }

  /** Reads a tag: answers its name and whether it is self-closing (<true/>) or a closing tag. */
  tag(): { name: string; closing: boolean; empty: boolean } {
    this.skipMisc();
    const m = /^<(\/?)([A-Za-z]+)(?:\s+[A-Za-z]+="[^"]*")*\s*(\/?)>/.exec(this.text.slice(this.pos));
    if (!m) this.fail('expected a tag');
    this.pos += m[0].length;
    return { name: m[2]!, closing: m[1] === '/', empty: m[3] === '/' };
  }

  textUntil(name: string): string {
    const end = this.text.indexOf(`</${name}>`, this.pos);
    if (end < 0) this.fail(`unclosed <${name}>`);
    const raw = this.text.slice(this.pos, end);
    if (raw.includes('<')) this.fail(`markup inside <${name}>`);
    this.pos = end + name.length + 3;
    return unescapeXml(raw);
  }

  value(open?: { name: string; closing: boolean; empty: boolean }): PlistValue {
    const t = open ?? this.tag();
    if (t.closing) this.fail(`unexpected </${t.name}>`);
    switch (t.name) {
      case 'true':
      case 'false':
        if (!t.empty) this.fail(`<${t.name}> must be empty`);
        return t.name === 'true';
      case 'string':
        return t.empty ? '' : this.textUntil('string');
      case 'integer': {
        const n = this.textUntil('integer').trim();
        if (!/^-?\d+$/.test(n)) this.fail(`bad integer "${n}"`);
        return Number(n);
      }
      case 'array': {
        const items: PlistValue[] = [];
        if (t.empty) return items;
        for (;;) {
          const next = this.tag();
          if (next.closing) {
            if (next.name !== 'array') this.fail(`</${next.name}> closes <array>`);
            return items;
          }
          items.push(this.value(next));
        }
      }
      case 'dict': {
        const dict: { [key: string]: PlistValue } = {};
        if (t.empty) return dict;
        for (;;) {
          const next = this.tag();
          if (next.closing) {
            if (next.name !== 'dict') this.fail(`</${next.name}> closes <dict>`);
            return dict;
          }
          if (next.name !== 'key') this.fail(`expected <key>, got <${next.name}>`);
          const key = this.textUntil('key');
          if (key in dict) this.fail(`duplicate key "${key}"`);
          dict[key] = this.value();
        }
      }
      default:
        return this.fail(`unsupported element <${t.name}>`);
    }
  }
}

export function parsePlist(text: string): PlistValue {
  const reader = new Reader(text);
  const open = reader.tag();
  if (open.name !== 'plist' || open.closing) reader.fail('expected <plist>');
  const value = reader.value();
  const close = reader.tag();
  if (close.name !== 'plist' || !close.closing) reader.fail('expected </plist>');
  reader.skipMisc();
  if (reader.pos !== text.length) reader.fail('content after </plist>');
  return value;
}
