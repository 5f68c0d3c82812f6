/**
 * `bulkmailer log [--since DURATION] [--json]`: final delivery outcomes from
 * log/deliveries.jsonl (one line per recipient that became sent or failed;
 * see src/spool/delivery-log.ts), oldest first. Read line by line, so a
 * log of any size is shown in constant memory. `--json` prints the records
 * as stored, one JSON object per line (JSON Lines).
 *
 * A line that is not a valid record (a torn last line after a crash, a
 * hand edit) is skipped and counted on stderr. A missing log is an empty
 * log. `--since` takes a duration (90m, 2h, 3d); a bad one exits 64.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { parseDuration } from '../../config/duration.js';
import { usageError } from '../../errors.js';
import { deletionLogPath, deliveryLogPath, spoolLayout, type DeliveryLogRecord } from '../../spool/index.js';
import type { CommandContext } from '../context.js';
import { palette } from '../format/color.js';
import { formatTimestamp } from '../format/units.js';
import { writeOut } from '../output.js';
import { plural } from '../../text.js';

function isRecord(value: unknown): value is DeliveryLogRecord {
  const r = value as Partial<DeliveryLogRecord> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.time === 'string' &&
    !Number.isNaN(Date.parse(r.time)) &&
    typeof r.id === 'string' &&
    typeof r.recipient === 'string' &&
    (r.status === 'sent' || r.status === 'failed')
  );
}

/** Yields each parsed line of a JSON Lines file; a missing file yields nothing. */
async function* readJsonLines(file: string, onBad: () => void): AsyncGenerator<unknown> {
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve, reject) => {
    stream.once('ready', () => resolve(true));
    stream.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!opened) return;
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as unknown;
    } catch {
      onBad();
    }
  }
}

export function parseSince(text: string | undefined, now: number): number {
  if (text === undefined) return Number.NEGATIVE_INFINITY;
  try {
    return now - parseDuration(text, '--since');
  } catch {
    throw usageError(`--since: "${text}" is not a duration (examples: 90m, 2h, 3d)`);
  }
}

export default async function log(ctx: CommandContext, options: { since?: string; json?: boolean }): Promise<number> {
  const now = Date.now();
  const since = parseSince(options.since, now);
  const spool = spoolLayout(ctx.home);
  const c = palette(ctx.color);
  let bad = 0;
  const counts = { sent: 0, failed: 0 };
  for await (const value of readJsonLines(deliveryLogPath(spool), () => bad++)) {
    if (!isRecord(value)) {
      bad++;
      continue;
    }
    if (Date.parse(value.time) < since) continue;
    counts[value.status]++;
    if (options.json) {
      await writeOut(ctx, JSON.stringify(value) + '\n');
      continue;
    }
    const status = value.status === 'sent' ? c.green('sent  ') : c.red('failed');
    const expired = value.expired ? ' (expired)' : '';
    const duplicate = value.possibleDuplicate === true ? c.yellow(' (possible duplicate)') : '';
    const account = typeof value.account === 'string' ? `  ${c.dim(`via ${value.account}`)}` : '';
    await writeOut(
      ctx,
      `${formatTimestamp(value.time)}  ${status}  ${value.recipient}  ${c.dim(value.id)}  ${value.reply}${expired}${duplicate}${account}\n`,
    );
  }
  if (bad > 0) ctx.stderr.write(`bulkmailer: warning: skipped ${bad} unreadable line${bad === 1 ? '' : 's'} in ${deliveryLogPath(spool)}\n`);
  if (options.json) return 0;
  const period = options.since === undefined ? '' : ` in the last ${options.since}`;
  const total = counts.sent + counts.failed;
  await writeOut(ctx, total === 0 ? `no delivery outcomes${period}\n` : `${total} outcomes${period}: ${counts.sent} sent, ${counts.failed} failed\n`);
  let deletions = 0;
  for await (const value of readJsonLines(deletionLogPath(spool), () => {})) {
    const time = (value as { time?: unknown } | null)?.time;
    if (typeof time === 'string' && Date.parse(time) >= since) deletions++;
  }
  if (deletions > 0) {
    await writeOut(ctx, `${plural(deletions, 'entry', 'entries')} deleted by hand${period}: see ${deletionLogPath(spool)}\n`);
  }
  return 0;
}
