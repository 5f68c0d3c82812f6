/**
 * The sendmail command's common case (deliver mode, `-bm`, the default):
 * read the message from stdin, queue it durably, say so with -v, then
 * leave it to the agent (nudged), to the next flush, or to a flush now
 * (-odi/-odb, which the caller passes in as `flushNow`).
 *
 * Shared by the full command (main.ts) and its start-up snapshot
 * (snapshot-entry.ts), which imports nothing else of the command: the
 * snapshot runs only `-odq` (the default), so it passes no flushNow.
 *
 * Resolves to exit code 0 only once the entry is committed (promise 1);
 * fails with the BulkmailerErrors of submitMessage (64, 65, 73, 77, 78).
 */
import { ExitCode } from '../../errors.js';
import { formatFromValue } from '../../message/new-headers.js';
import { plural } from '../../text.js';
import { defaultDomainFor, defaultSenderAddress, qualifyAddress, submitMessage, type SubmitRequest } from '../submit-message.js';
import type { SendmailArgs } from './parse-args.js';
import { readSendmailConfig, type SendmailConfig } from './read-config.js';
import { untilLoneDot } from './lone-dot.js';
import { stdinChunks } from './stdin-chunks.js';

export const PROGRAM = 'bulkmailer-sendmail';

/** -odi / -odb after the message is queued; not needed (null) for -odq. */
export type FlushNow = (args: SendmailArgs, home: string) => Promise<void>;

export function say(args: SendmailArgs, text: string): void {
  if (args.verbose) process.stderr.write(`${PROGRAM}: ${text}\n`);
}

/**
 * What the command submits for these arguments, this config and this
 * input: one function for the command and its snapshot's warm-up, so the
 * image is compiled on the path that runs.
 */
export function sendmailSubmitRequest(args: SendmailArgs, home: string, config: SendmailConfig, input: AsyncIterable<Buffer>): SubmitRequest {
  const defaultAddress = config.from ?? defaultSenderAddress();
  const sender = args.sender ?? defaultAddress;
  const defaultDomain = defaultDomainFor(config.from ?? null);
  return {
    home,
    sender,
    recipients: args.recipients,
    readRecipients: args.readRecipients,
    message: args.ignoreDots ? input : untilLoneDot(input),
    fromValue: formatFromValue(qualifyAddress(sender === '' ? defaultAddress : sender, defaultDomain), args.fullName),
    defaultDomain,
    oneShot: true,
  };
}

export async function deliverMode(args: SendmailArgs, home: string, flushNow: FlushNow | null): Promise<number> {
  const result = await submitMessage(sendmailSubmitRequest(args, home, readSendmailConfig(home), stdinChunks()));
  say(args, `queued ${result.id} for ${plural(result.state.recipients.length, 'recipient')}, ${result.size} bytes`);
  if (args.ignored.length > 0) say(args, `ignored options: ${args.ignored.join(' ')}`);
  if (result.nudged) {
    say(args, 'the agent was asked to deliver it now');
  } else if (args.deliveryMode !== 'queue' && flushNow !== null) {
    await flushNow(args, home);
  } else {
    say(args, 'no agent running: it leaves with the next flush');
  }
  return ExitCode.ok;
}
