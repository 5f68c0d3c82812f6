/**
 * bulkmailer as a library (the package's main export): put a message into
 * the same durable spool the sendmail command and the SMTP listener use,
 * and read the queue. See docs/library.md.
 *
 *   import { enqueue, listQueue } from 'bulkmailer';
 *   const id = await enqueue({ from: 'list@example.org', to: ['a@example.net'], message: raw });
 *
 * `enqueue` resolves only once the entry is durable (fsynced) and rejects
 * with a BulkmailerError (a string `code`, a sysexits `exitCode`,
 * `temporary`) otherwise; nothing is half stored. It never exits the process.
 */
import type { Readable } from 'node:stream';
import { resolveHome } from './config/home.js';
import { submitMessage } from './frontends/submit-message.js';
import type { EntryState } from './model/entry-state.js';
import { openSpool, scanEntries } from './spool/index.js';

export interface EnqueueOptions {
  /** bulkmailer home; default $BULKMAILER_HOME, else the user data dir. */
  home?: string;
  /** Envelope sender (MAIL FROM); '' for the null sender. */
  from: string;
  /** Envelope recipients. */
  to: string | readonly string[];
  /** The whole RFC 5322 message (header, empty line, body), stored as given. */
  message: Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array | string>;
  /** Also take recipients from To/Cc/Bcc (sendmail -t); Bcc is then always removed. Default false. */
  readRecipients?: boolean;
  /**
   * Add Date and Message-ID (and From: the envelope sender) when the message
   * lacks them, and remove Bcc, as the sendmail command does. Default false:
   * the message is stored byte for byte.
   */
  fixHeaders?: boolean;
  /** Refuse (E_TOO_BIG) messages larger than this many bytes. */
  maxSize?: number;
}

/** Queues one message; resolves to its queue id once it is durable. */
export async function enqueue(options: EnqueueOptions): Promise<string> {
  const fix = options.fixHeaders ?? false;
  const result = await submitMessage({
    home: resolveHome(options.home),
    sender: options.from,
    recipients: typeof options.to === 'string' ? [options.to] : [...options.to],
    readRecipients: options.readRecipients ?? false,
    message: options.message as AsyncIterable<Uint8Array | string> | string | Uint8Array,
    fromValue: fix && options.from !== '' ? options.from : null,
    addDateAndMessageId: fix,
    // Recipients read from Bcc must never see it: as with sendmail -t, Bcc goes.
    removeBcc: fix || (options.readRecipients ?? false),
    skipMboxFromLine: false,
    // Stored byte for byte unless asked to fix headers: no separator is inserted then.
    nonHeaderStartsBody: fix,
    ...(options.maxSize === undefined ? {} : { maxSize: options.maxSize }),
  });
  return result.id;
}

export interface ListQueueOptions {
  home?: string;
}

/** The queue, oldest first, one entry at a time (memory stays flat on a large spool). */
export async function* listQueue(options: ListQueueOptions = {}): AsyncGenerator<QueueEntry> {
  const spool = await openSpool(resolveHome(options.home));
  yield* scanEntries(spool);
}

/** One queued message: envelope, display fields and every recipient's state. */
export type QueueEntry = EntryState;
export type { EntryState, RecipientState, RecipientStatus } from './model/entry-state.js';
export { BulkmailerError, ExitCode, isBulkmailerError } from './errors.js';
/** Resolves once every enqueue of this process has fsynced its state directory and removed its pending name. */
export { settleCommits } from './spool/index.js';
export { startListener, type ListenerOptions, type RunningListener } from './frontends/listener/start-listener.js';
export type { AcceptedMessage } from './frontends/listener/spool-smtp-server.js';
