/**
 * `bulkmailer enqueue [-f SENDER] [-t] [--file F] [RCPT ...]`: queue one
 * message from stdin (or F) and print its queue id once it is durable.
 *
 * Behaves like the sendmail command in -i mode: Bcc removed, Date,
 * Message-ID and From added when missing. Sender: -f, else config `from`,
 * else login@hostname.
 *
 * Exit codes (sysexits): 0 queued; 64 no recipients and no -t; 65 bad
 * address or malformed message; 66 FILE unreadable; 73 spool unwritable or
 * disk full (nothing half stored); 77 permission; 78 bad config.
 */
import fs from 'node:fs';
import { BulkmailerError, ExitCode } from '../../errors.js';
import { loadStoredConfig } from '../../config/store.js';
import { defaultDomainFor, defaultSenderAddress, qualifyAddress, submitMessage } from '../../frontends/submit-message.js';
import type { CommandContext } from '../context.js';

export interface EnqueueOptions {
  from?: string;
  readRecipients?: boolean;
  file?: string;
}

function openMessageFile(file: string): fs.ReadStream {
  try {
    // Opened synchronously so that a missing file fails before anything else.
    const fd = fs.openSync(file, 'r');
    return fs.createReadStream(file, { fd });
  } catch (err) {
    throw new BulkmailerError('E_NO_INPUT', `cannot read ${file}: ${(err as Error).message}`, {
      exitCode: ExitCode.noInput,
      cause: err,
    });
  }
}

export default async function enqueue(
  ctx: CommandContext,
  recipients: string[],
  options: EnqueueOptions,
): Promise<number> {
  const config = loadStoredConfig(ctx.home, { oneShot: true }); // its spool open then need not walk the home again
  const sender = options.from ?? config.from ?? defaultSenderAddress();
  const defaultDomain = defaultDomainFor(config.from);
  const message = options.file !== undefined ? openMessageFile(options.file) : ctx.stdin;
  const result = await submitMessage({
    home: ctx.home,
    sender: sender === '<>' ? '' : sender,
    recipients,
    readRecipients: options.readRecipients ?? false,
    message: message as AsyncIterable<Buffer>,
    fromValue: qualifyAddress(sender === '' || sender === '<>' ? (config.from ?? defaultSenderAddress()) : sender, defaultDomain),
    defaultDomain,
    oneShot: true, // the command queues this one message and exits
  });
  ctx.stdout.write(`${result.id}\n`);
  return ExitCode.ok;
}
