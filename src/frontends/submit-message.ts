/**
 * A local submission (the sendmail command, `bulkmailer enqueue`, the
 * library): read the message, fix up its header as sendmail would, enqueue
 * it durably, then nudge a running agent. Resolves only once the entry is
 * committed (the caller may then say "accepted").
 *
 * Fails with BulkmailerError: 64 no recipients at all, 65 a bad address or a
 * malformed message, 73/77 the spool cannot take it (nothing half stored).
 */
import os from 'node:os';
import { BulkmailerError, ExitCode, dataError, usageError } from '../errors.js';
import { checkEnvelopeAddress, domainOf } from '../model/address.js';
import { prepareMessage, type PreparedMessage } from '../message/prepare-message.js';
import type { MessageInput } from '../message/split-head.js';
import { enqueueMessage, nudgeFlusher, openSpool, type EnqueueResult } from '../spool/index.js';

export interface SubmitRequest {
  home: string;
  /** Envelope sender; '' is the null sender. */
  sender: string;
  /** Recipients given as arguments. */
  recipients: readonly string[];
  /** -t: add the recipients of To/Cc/Bcc (or Resent-*). */
  readRecipients?: boolean;
  message: MessageInput;
  /** Value of a From field to add when the message has none (null: add none). */
  fromValue?: string | null;
  /** Add Date and Message-ID when missing (default true). */
  addDateAndMessageId?: boolean;
  /** Remove Bcc fields (default true: the stored message never shows them). */
  removeBcc?: boolean;
  /** Drop a leading mbox "From " line (default true). */
  skipMboxFromLine?: boolean;
  /** A non-header line starts the body, as in Postfix (default true); off: exit 65. */
  nonHeaderStartsBody?: boolean;
  maxSize?: number;
  /** Nudge a running agent after the commit (default true). */
  nudge?: boolean;
  /**
   * Domain added to a bare local name (`sendmail root`, `-f root`, `To: bob`
   * with -t), as nullmailer adds its defaultdomain and Postfix its
   * myorigin. Unset: bare names are refused (exit 65).
   */
  defaultDomain?: string;
  /**
   * The process queues this one message and exits (the sendmail command,
   * `bulkmailer enqueue`): the spool is opened for enqueueing only, checking
   * the directories the enqueue writes into and leaving the rest to the
   * flusher (src/spool/open-spool.ts, spool-dirs.ts); and the enqueue into
   * that spool opens, fsyncs and closes its directories instead of keeping
   * their handles (Spool.oneShot). Same durability before this resolves.
   */
  oneShot?: boolean;
}

/** `root` -> `root@example.org`; addresses with a domain (and the null sender) pass unchanged. */
export function qualifyAddress(address: string, defaultDomain: string | undefined): string {
  // A leading '-' is refused by checkEnvelopeAddress; qualified, the error would name "-f@domain".
  if (defaultDomain === undefined || address === '' || address.includes('@') || address.startsWith('-')) return address;
  return /^[^\s<>@()\\,;:"\[\]]+$/.test(address) ? `${address}@${defaultDomain}` : address;
}

/** The domain bare names get: the configured sender's, else this host's name. */
export function defaultDomainFor(configFrom: string | null): string {
  return configFrom !== null && configFrom.includes('@') ? domainOf(configFrom) : os.hostname() || 'localhost';
}

export interface SubmitResult extends EnqueueResult {
  /** Whether an agent answered the nudge (false with no agent or nudge: false). */
  nudged: boolean;
}

/** login@hostname: the sender when neither -f nor config `from` says otherwise. */
export function defaultSenderAddress(): string {
  let login = process.env.LOGNAME || process.env.USER || '';
  try {
    login = os.userInfo().username || login;
  } catch {
    // No passwd entry (containers): keep the environment's name.
  }
  const host = os.hostname() || 'localhost';
  return `${login || 'nobody'}@${host}`;
}

/** A failure reading the message itself (stdin, a file) is an I/O error (74), not a bug. */
async function readingInput<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof BulkmailerError) throw err;
    throw new BulkmailerError('E_INPUT', `cannot read the message: ${err instanceof Error ? err.message : String(err)}`, {
      exitCode: ExitCode.ioErr,
      cause: err,
    });
  }
}

/** The envelope as given, checked before the message is read (a bad address fails fast, exit 65). */
export interface CheckedEnvelope {
  /** '' for the null sender. */
  sender: string;
  /** The recipients given as arguments, qualified. */
  given: string[];
}

export function checkSubmissionEnvelope(request: SubmitRequest): CheckedEnvelope {
  if (request.recipients.length === 0 && !request.readRecipients) {
    throw usageError('no recipients: name them as arguments, or use -t to read To/Cc/Bcc');
  }
  const qualify = (address: string) => qualifyAddress(address, request.defaultDomain);
  const sender = request.sender === '' ? '' : checkEnvelopeAddress(qualify(request.sender), 'sender');
  const given = request.recipients.map(qualify);
  for (const address of given) checkEnvelopeAddress(address, 'recipient');
  return { sender, given };
}

/** The message read and its header fixed up; the recipients with those of its header under -t. */
export interface PreparedSubmission {
  prepared: PreparedMessage;
  recipients: string[];
}

/**
 * Reads the message's header (the body streams on through
 * `prepared.message`) and completes the recipient list. Pure apart from
 * reading the input, so the sendmail command's start-up snapshot runs it
 * at build time to compile it (snapshot-entry.ts).
 */
export async function prepareSubmission(request: SubmitRequest, envelope: CheckedEnvelope): Promise<PreparedSubmission> {
  const { sender, given } = envelope;
  const prepared = await readingInput(() => prepareMessage(request.message, {
    removeBcc: request.removeBcc ?? true,
    addDateAndMessageId: request.addDateAndMessageId ?? true,
    fromValue: request.fromValue ?? null,
    messageIdDomain: sender === '' ? os.hostname() : domainOf(sender),
    skipMboxFromLine: request.skipMboxFromLine ?? true,
    nonHeaderStartsBody: request.nonHeaderStartsBody ?? true,
  }));
  if (prepared.empty) throw dataError('empty message', 'E_EMPTY_MESSAGE');
  const recipients = [...given];
  if (request.readRecipients) recipients.push(...prepared.headerRecipients.map((a) => qualifyAddress(a, request.defaultDomain)));
  if (recipients.length === 0) {
    throw dataError('no recipients: the message has no To, Cc or Bcc addresses (-t)', 'E_NO_RECIPIENTS');
  }
  return { prepared, recipients };
}

export async function submitMessage(request: SubmitRequest): Promise<SubmitResult> {
  const envelope = checkSubmissionEnvelope(request);
  const spool = await openSpool(request.home, request.oneShot ? { only: 'enqueue' } : {});
  const { prepared, recipients } = await prepareSubmission(request, envelope);
  const result = await enqueueMessage(spool, {
    from: envelope.sender,
    recipients,
    message: prepared.message,
    subject: prepared.subject,
    messageId: prepared.messageId,
    ...(request.maxSize === undefined ? {} : { maxSize: request.maxSize }),
  });
  const nudged = request.nudge === false ? false : await nudgeFlusher(spool);
  return { ...result, nudged };
}
