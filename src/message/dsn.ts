/**
 * Delivery status notifications (RFC 3464): the bounce that tells a sender
 * which recipients failed for good, and why, and the delay warning
 * (Action: delayed, as Postfix's delay_warning_time) that tells them which
 * are still being retried. Pure: takes the entry, the recipients and the
 * original header block; returns the message text. It is queued like any other message, with the null sender, so a
 * bounce can never bounce (and no DSN is ever made for a null sender).
 */
import { randomBytes } from 'node:crypto';
import type { EntryState, RecipientState } from '../model/entry-state.js';
import { encodedWords } from './encoded-words.js';
import { formatRfc5322Date } from './new-headers.js';

export interface DsnInput {
  entry: EntryState;
  /** The recipients reported: failed ones for a bounce, waiting ones for a delay warning. */
  failed: readonly RecipientState[];
  /** 'failed' (default): a bounce. 'delayed': a warning only; the message is still retried. */
  action?: 'failed' | 'delayed';
  /** For a delay warning: how long it has waited, and how long it is retried, in words ("4h", "5d"). */
  delayed?: { waited: string; lifetime: string };
  originalHeaders: string;
  reportingMta: string;
  remoteMta: string | null;
  now: number;
}

function rfc5322Date(time: number): string {
  return formatRfc5322Date(new Date(time));
}

/**
 * The enhanced status code (RFC 3463) of a reply, or a fitting default. Only
 * the code right after the reply code counts ("550 5.1.1 ..."), not
 * something that merely looks like one later in the text (an IP address).
 */
export function statusOf(recipient: RecipientState): string {
  const reply = recipient.lastReply ?? '';
  if (reply.startsWith('expired')) return '4.4.7';
  const match = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(reply);
  if (match) return `5.${match[2]}.${match[3]}`;
  return '5.0.0';
}

/** The status of a recipient still being retried: the 4.x.y its last reply gave, or 4.0.0. */
export function delayStatusOf(recipient: RecipientState): string {
  const match = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/.exec(recipient.lastReply ?? '');
  return match ? `4.${match[2]}.${match[3]}` : '4.0.0';
}

function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/** Longest original subject quoted in the DSN (header lines stay far below 998 octets). */
const MAX_QUOTED_SUBJECT = 200;

function shortSubject(subject: string): string {
  const chars = [...oneLine(subject)];
  return chars.length <= MAX_QUOTED_SUBJECT ? chars.join('') : `${chars.slice(0, MAX_QUOTED_SUBJECT).join('')}...`;
}

/** Unstructured header text: as is when printable ASCII, else UTF-8 encoded-words on folded lines (RFC 2047). */
function headerText(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : encodedWords(text).join('\r\n ');
}

export function buildDsn(input: DsnInput): string {
  const { entry, failed, reportingMta, now } = input;
  const delayed = input.action === 'delayed';
  const boundary = `bulkmailer-dsn-${randomBytes(8).toString('hex')}`;
  const messageId = `<${entry.id}.dsn.${randomBytes(4).toString('hex')}@${reportingMta}>`;
  const list = failed
    .map((r) => `  <${r.address}>: ${oneLine(r.lastReply ?? (delayed ? 'not yet attempted' : 'failed'))}`)
    .join('\r\n');
  const subject = entry.subject === null ? '' : ` (${shortSubject(entry.subject)})`;
  const perRecipient = failed
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${r.address}`,
        `Action: ${delayed ? 'delayed' : 'failed'}`,
        `Status: ${delayed ? delayStatusOf(r) : statusOf(r)}`,
        ...(input.remoteMta ? [`Remote-MTA: dns; ${input.remoteMta}`] : []),
        ...(r.lastReply ? [`Diagnostic-Code: smtp; ${oneLine(r.lastReply)}`] : []),
        ...(r.lastAttemptAt ? [`Last-Attempt-Date: ${rfc5322Date(Date.parse(r.lastAttemptAt))}`] : []),
      ].join('\r\n'),
    )
    .join('\r\n\r\n');
  const headers = input.originalHeaders.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '');
  return [
    `From: Mail Delivery System <MAILER-DAEMON@${reportingMta}>`,
    `To: <${entry.from}>`,
    `Subject: ${headerText(`${delayed ? 'Delayed Mail (still being retried)' : 'Undelivered Mail Returned to Sender'}${subject}`)}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: ${messageId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `This is bulkmailer on ${reportingMta}.`,
    '',
    ...(delayed ? delayText(subject, input.delayed) : failedText(subject)),
    '',
    list,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${reportingMta}`,
    `X-Bulkmailer-Queue-ID: ${entry.id}`,
    `Arrival-Date: ${rfc5322Date(Date.parse(entry.createdAt))}`,
    '',
    perRecipient,
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Transfer-Encoding: 8bit',
    '',
    headers,
    '',
    `--${boundary}--`,
    '',
  ].join('\r\n');
}

function failedText(subject: string): string[] {
  return [`Your message${subject} could not be delivered to the following`, 'recipients. This is a permanent error; it will not be retried.'];
}

/** Postfix's delay warning wording, with bulkmailer's way of counting the time (retry time, not age). */
function delayText(subject: string, delayed: DsnInput['delayed']): string[] {
  const waited = delayed?.waited ?? 'some time';
  const lifetime = delayed?.lifetime ?? 'its lifetime';
  return [
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    `Your message${subject} could not be delivered for ${waited}`,
    'to the following recipients. It will be retried until it has been',
    `retried for ${lifetime} (time offline does not count); you will hear`,
    'again only if it cannot be delivered then.',
  ];
}

/** The header block of a message (up to the first empty line), bounded. */
export function headerBlock(message: Buffer, limit = 64 * 1024): string {
  const slice = message.subarray(0, limit).toString('utf8');
  const end = slice.search(/\r?\n\r?\n/);
  return end < 0 ? slice : slice.slice(0, end);
}
