/**
 * The queue listing of `mailq`, `sendmail -bp` and `bulkmailer mailq`, in
 * Postfix's format (postqueue -p, showq), so scripts written for it work:
 *
 *   -Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
 *   <id><s>     <bytes>  Mon Nov 30 14:33:36  sender@example.org
 *                                     (451 4.7.1 Greylisted, try later)
 *                                            deferred@example.net
 *                                            pending@example.org
 *
 *   -- 3 Kbytes in 1 Request.
 *
 * <s> is `!` for a held entry (Postfix's hold queue), else a space. Only
 * recipients still to deliver are listed: deferred ones first, each group
 * under its last reply in parentheses (right-aligned to column 78, printed
 * again only when it changes), then pending ones. The null sender prints
 * as MAILER-DAEMON; an empty queue as "Mail queue is empty". Times are
 * local (asctime). Control characters print as `?`, as Postfix's do.
 *
 * Read-only, one entry in memory at a time, like `status`; an entry that
 * cannot be read is reported on stderr and skipped.
 */
import type { EntryState } from '../../model/entry-state.js';
import { listEntryIds, openSpool, readEntryForScan } from '../../spool/index.js';
import { writeWithBackPressure } from '../../output-stream.js';
import { DAYS, MONTHS, pad2, plural } from '../../text.js';

/** The first 20 characters of C's asctime(localtime(t)): "Mon Nov  3 04:05:06 ". */
export function asctime20(iso: string): string {
  const d = new Date(iso);
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} `;
}

/** Postfix's STRING_FORMAT "%-10s %8s %-20s %s". */
function stringLine(id: string, size: string, time: string, text: string): string {
  return `${id.padEnd(10)} ${size.padStart(8)} ${time.padEnd(20)} ${text}\n`;
}

// eslint-disable-next-line no-control-regex
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, '?');

/** One entry: its heading line, then the recipients still to deliver. */
export function formatMailqEntry(state: EntryState): string {
  const sender = state.from === '' ? 'MAILER-DAEMON' : printable(state.from);
  // DATA_FORMAT "%-10s%c%8ld %20.20s %s"
  let out = `${state.id.padEnd(10)}${state.held ? '!' : ' '}${String(state.size).padStart(8)} ${asctime20(state.createdAt)} ${sender}\n`;
  let lastReason: string | null = null;
  for (const r of state.recipients) {
    if (r.status !== 'deferred') continue;
    const reason = printable(r.lastReply ?? 'deferred');
    if (reason !== lastReason) {
      out += `${' '.repeat(Math.max(0, 76 - reason.length))}(${reason})\n`;
      lastReason = reason;
    }
    out += stringLine('', '', '', printable(r.address));
  }
  for (const r of state.recipients) if (r.status === 'pending') out += stringLine('', '', '', printable(r.address));
  return out;
}

export async function writeMailq(home: string, stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<void> {
  const spool = await openSpool(home);
  const onCorrupt = (id: string, reason: string) => stderr.write(`mailq: warning: ${reason} (entry ${id})\n`);
  let count = 0;
  let bytes = 0;
  for (const id of await listEntryIds(spool)) {
    const state = await readEntryForScan(spool, id, { onCorrupt, onUnreadable: onCorrupt });
    if (state === null) continue;
    const heading = count === 0 ? stringLine('-Queue ID-', '--Size--', '----Arrival Time----', '-Sender/Recipient-------') : '\n';
    await writeWithBackPressure(stdout, heading + formatMailqEntry(state));
    count++;
    bytes += state.size;
  }
  const trailer = count === 0 ? 'Mail queue is empty\n' : `\n-- ${Math.floor(bytes / 1024)} Kbytes in ${plural(count, 'Request')}.\n`;
  await writeWithBackPressure(stdout, trailer);
}
