/**
 * `bulkmailer show ID`: one entry in full: a header summary (sender,
 * subject, Message-ID, size, created, held) and every recipient with its
 * status, attempts, next attempt and the smarthost's last reply.
 * `--json` prints one object: the entry as `status --json` shows it, plus
 * kind, messageId and each recipient's lastAttemptAt (docs/cli.md).
 *
 * Read-only. Fails with exit 65 "no such entry" for an unknown id and 64
 * for an ambiguous prefix.
 */
import type { EntryState, RecipientState } from '../../model/entry-state.js';
import { openSpool, readEntryState } from '../../spool/index.js';
import type { CommandContext } from '../context.js';
import { noSuchEntry, resolveEntryArg } from '../entry-args.js';
import { palette, type Palette } from '../format/color.js';
import { countEntry, describeProgress } from '../format/entry-progress.js';
import { formatClock } from '../../text.js';
import { formatRelative, formatSize, formatTimestamp } from '../format/units.js';
import { writeOut } from '../output.js';
import { toStatusJson } from './status.js';
import { loadAccountLookup } from '../format/entry-account.js';

export function toShowJson(state: EntryState, account: string | null) {
  const base = toStatusJson(state, account);
  return {
    ...base,
    kind: state.kind,
    messageId: state.messageId,
    recipients: state.recipients.map((r, i) => ({ ...base.recipients[i], lastAttemptAt: r.lastAttemptAt })),
  };
}

function statusWord(r: RecipientState, c: Palette): string {
  switch (r.status) {
    case 'sent':
      return c.green('sent');
    case 'failed':
      return c.red('failed');
    case 'deferred':
      return c.yellow('deferred');
    case 'pending':
      return 'pending';
  }
}

function nextAttempt(r: RecipientState, held: boolean, now: number): string {
  if (r.status === 'sent' || r.status === 'failed') return '-';
  if (held) return 'held';
  if (r.nextAttemptAt === null || Date.parse(r.nextAttemptAt) <= now) return 'due now';
  return `${formatClock(r.nextAttemptAt, now)} (${formatRelative(r.nextAttemptAt, now)})`;
}

export default async function show(ctx: CommandContext, typed: string, options: { json?: boolean }): Promise<number> {
  const spool = await openSpool(ctx.home);
  const id = await resolveEntryArg(spool, typed);
  const state = await readEntryState(spool, id);
  if (state === null) throw noSuchEntry(typed);
  const account = loadAccountLookup(ctx.home).of(state.from);
  if (options.json) {
    await writeOut(ctx, JSON.stringify(toShowJson(state, account?.name ?? null), null, 2) + '\n');
    return 0;
  }
  const c = palette(ctx.color);
  const now = Date.now();
  const lines = [
    `${c.bold('id')}          ${state.id}${state.kind === 'dsn' ? ' (bounce report)' : ''}`,
    `${c.bold('from')}        ${state.from === '' ? '<> (null sender)' : state.from}`,
    `${c.bold('account')}     ${account === null ? '(unknown: the config cannot be read)' : `${account.name} (${account.smarthost ?? 'no smarthost'})`}`,
    `${c.bold('subject')}     ${state.subject ?? '(none)'}`,
    `${c.bold('message-id')}  ${state.messageId ?? '(none)'}`,
    `${c.bold('size')}        ${formatSize(state.size)} (${state.size} bytes)`,
    `${c.bold('created')}     ${formatTimestamp(state.createdAt)} (${formatRelative(state.createdAt, now)})`,
    `${c.bold('held')}        ${state.held ? c.yellow('yes: not delivered until `bulkmailer release ' + state.id + '`') : 'no'}`,
    `${c.bold('progress')}    ${describeProgress(state, countEntry(state), now, c)}`,
    '',
  ];
  await writeOut(ctx, lines.join('\n') + '\n');
  const width = Math.min(40, Math.max(9, ...state.recipients.map((r) => r.address.length)));
  await writeOut(ctx, c.bold(`${'RECIPIENT'.padEnd(width)}  STATUS    ATTEMPTS  NEXT ATTEMPT          LAST REPLY`) + '\n');
  for (const r of state.recipients) {
    const status = statusWord(r, c) + ' '.repeat(8 - r.status.length);
    await writeOut(
      ctx,
      `${r.address.padEnd(width)}  ${status}  ${String(r.attempts).padStart(8)}  ${nextAttempt(r, state.held, now).padEnd(20)}  ${
        r.lastReply ?? '-'
      }${r.possibleDuplicate === true && !/possible duplicate/.test(r.lastReply ?? '') ? c.yellow(' (possible duplicate)') : ''}\n`,
    );
  }
  return 0;
}
