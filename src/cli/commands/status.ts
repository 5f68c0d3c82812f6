/**
 * `bulkmailer status` / `mailq`: the queue, oldest first. Entries are read
 * and written one at a time, so memory stays flat on a large spool.
 * `--json` prints one JSON array (the format scripts rely on; see
 * docs/cli.md); the human view is a table.
 */
import type { EntryState } from '../../model/entry-state.js';
import { openSpool, readEntryForScan, listEntryIds } from '../../spool/index.js';
import type { CommandContext } from '../context.js';

export interface StatusJsonEntry {
  id: string;
  from: string;
  createdAt: string;
  size: number;
  subject: string | null;
  held: boolean;
  recipients: {
    address: string;
    status: string;
    attempts: number;
    nextAttemptAt: string | null;
    lastReply: string | null;
  }[];
}

export function toStatusJson(state: EntryState): StatusJsonEntry {
  return {
    id: state.id,
    from: state.from,
    createdAt: state.createdAt,
    size: state.size,
    subject: state.subject,
    held: state.held,
    recipients: state.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      attempts: r.attempts,
      nextAttemptAt: r.nextAttemptAt,
      lastReply: r.lastReply,
    })),
  };
}

function write(ctx: CommandContext, text: string): Promise<void> | void {
  if (!ctx.stdout.write(text)) return new Promise((resolve) => ctx.stdout.once('drain', () => resolve()));
}

export default async function status(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const spool = await openSpool(ctx.home);
  const ids = await listEntryIds(spool);
  const onCorrupt = (id: string, reason: string) => ctx.stderr.write(`bulkmailer: warning: ${reason} (entry ${id})\n`);
  if (options.json) {
    await write(ctx, '[');
    let first = true;
    for (const id of ids) {
      const state = await readEntryForScan(spool, id, { onCorrupt });
      if (state === null) continue;
      await write(ctx, (first ? '\n' : ',\n') + JSON.stringify(toStatusJson(state)));
      first = false;
    }
    await write(ctx, first ? ']\n' : '\n]\n');
    return 0;
  }
  let count = 0;
  for (const id of ids) {
    const state = await readEntryForScan(spool, id, { onCorrupt });
    if (state === null) continue;
    count++;
    const done = state.recipients.filter((r) => r.status === 'sent').length;
    await write(
      ctx,
      `${state.id}  ${state.size}B  ${state.from || '<>'}  ${done}/${state.recipients.length} sent${state.held ? '  HELD' : ''}  ${state.subject ?? ''}\n`,
    );
  }
  await write(ctx, count === 0 ? 'queue is empty\n' : `${count} entries\n`);
  return 0;
}
