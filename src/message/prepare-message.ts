/**
 * Prepares a submitted message for the spool without reading its body into
 * memory: splits off the header block, reads what the entry's state needs
 * (Subject decoded for display, Message-ID, and with `-t` the recipients),
 * and yields the message again as a stream whose header block may have lost
 * its Bcc fields and gained Date, Message-ID and From. Everything else
 * (other fields, their folding, line endings, the body) stays byte for byte
 * as given, except that what SMTP cannot carry is dealt with here, at intake
 * (smtp-line-limit.ts): lines over 998 octets are broken, a NUL byte refused.
 *
 * Fails through splitMessageHead and LineLengthLimiter (dataError, exit 65).
 *
 * No closure made here may capture the header fields: their `raw` bytes
 * are views into the reads they came in (the SMTP intake's socket reads),
 * and while a closure of this function's scope held `fields` (the result's
 * -t getter did), a young-generation collection kept every message's reads,
 * so the listener's Buffers piled up until the next full collection
 * (docs/performance.md, "The listener's memory over thousands of
 * messages"; test/message/prepare-message-memory.test.ts).
 */
import { decodeEncodedWords } from './encoded-words.js';
import { findHeader, hasHeader, isHeaderNamed, type HeaderField } from './header-fields.js';
import { recipientsFromHeaders } from './header-recipients.js';
import { formatRfc5322Date, newMessageId } from './new-headers.js';
import { splitMessageHead, type MessageInput, type MessageRest, type SplitOptions } from './split-head.js';
import { LineLengthLimiter } from './smtp-line-limit.js';

export interface PrepareOptions extends SplitOptions {
  /** Remove Bcc and Resent-Bcc fields (the sendmail command does; the SMTP listener stores as received). */
  removeBcc?: boolean;
  /** Add Date and Message-ID when missing. */
  addDateAndMessageId?: boolean;
  /** Value for a From field to add when the message has none; null adds none. */
  fromValue?: string | null;
  /** Domain for a generated Message-ID. */
  messageIdDomain?: string;
  now?: Date;
}

export interface PreparedMessage {
  /** The message to store, as a stream of chunks. Consume once. */
  message: AsyncIterable<Buffer>;
  /**
   * Recipients named in To/Cc/Bcc (or their Resent- forms), as written; for
   * -t. Parsed when first read: only -t reads it.
   */
  readonly headerRecipients: string[];
  /** Decoded Subject, for display; null when absent. */
  subject: string | null;
  /** Message-ID as written or generated ("<...>"); null when absent and not added. */
  messageId: string | null;
  fields: HeaderField[];
  /** True when the header block was rewritten (a field removed or added). */
  rewritten: boolean;
  /** True when the input held nothing at all (no header field, no separator, no body). */
  empty: boolean;
}

function headerLine(name: string, value: string, eol: string): Buffer {
  return Buffer.from(`${name}: ${value}${eol}`, 'utf8');
}

/** The result: a class, so that -t's lazy recipients are a prototype getter reading `fields`, not a closure over them. */
class Prepared implements PreparedMessage {
  private recipients: string[] | undefined = undefined;

  constructor(
    readonly message: AsyncIterable<Buffer>,
    readonly subject: string | null,
    readonly messageId: string | null,
    readonly fields: HeaderField[],
    readonly rewritten: boolean,
    readonly empty: boolean,
  ) {}

  get headerRecipients(): string[] {
    return (this.recipients ??= recipientsFromHeaders(this.fields));
  }
}

/** The stored message, `head` then `body`, through the line limit: its closure holds the limiter only. */
function limitedMessage(body: MessageRest, head: Buffer | null, eol: '\r\n' | '\n'): MessageRest {
  const limiter = new LineLengthLimiter(eol);
  return body.withHead(head, (chunk) => limiter.pass(chunk));
}

export async function prepareMessage(input: MessageInput, options: PrepareOptions = {}): Promise<PreparedMessage> {
  const split = await splitMessageHead(input, options);
  const { fields, eol } = split;
  const kept = options.removeBcc
    ? fields.filter((f) => !isHeaderNamed(f, 'Bcc') && !isHeaderNamed(f, 'Resent-Bcc'))
    : fields;

  const added: Buffer[] = [];
  let messageId = findHeader(fields, 'Message-ID')?.value ?? null;
  if (options.fromValue != null && !hasHeader(fields, 'From')) added.push(headerLine('From', options.fromValue, eol));
  if (options.addDateAndMessageId) {
    // The clock is read only here: the listener adds no header and needs no time.
    const now = options.now ?? new Date();
    if (!hasHeader(fields, 'Date')) added.push(headerLine('Date', formatRfc5322Date(now), eol));
    if (messageId === null) {
      messageId = newMessageId(options.messageIdDomain ?? '', now.getTime());
      added.push(headerLine('Message-ID', messageId, eol));
    }
  }

  const subjectField = findHeader(fields, 'Subject');
  const rewritten = kept.length !== fields.length || added.length > 0;
  const head: Buffer[] = kept.map((f) => f.raw);
  if (added.length > 0 && split.unterminatedLastLine && kept.length > 0 && kept[kept.length - 1] === fields[fields.length - 1]) {
    // The message ended in its last header line without a line ending: end that line first.
    head.push(Buffer.from(eol));
  }
  head.push(...added);
  if (split.separator !== null) head.push(split.separator);

  // One iterator from the header to the end of the body, with the line
  // limit applied chunk by chunk inside it: each layer of iterator costs
  // promises and turns of the microtask queue for every chunk.
  const message = limitedMessage(split.body, head.length === 0 ? null : head.length === 1 ? head[0]! : Buffer.concat(head), eol);
  return new Prepared(
    message,
    subjectField ? decodeEncodedWords(subjectField.value) : null,
    messageId === null || messageId === '' ? null : messageId,
    fields,
    rewritten,
    fields.length === 0 && split.separator === null,
  );
}
