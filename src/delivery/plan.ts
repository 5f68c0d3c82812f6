/**
 * Planning one entry's transactions, pure: its due recipients sorted by
 * domain (so a relay that fans out by domain gets them grouped), then cut
 * into chunks of at most maxRecipientsPerTransaction.
 */
import { domainOf } from '../model/address.js';
import { dueRecipients, type EntryState } from '../model/entry-state.js';

export function planTransactions(state: EntryState, now: number, maxRecipients: number): string[][] {
  const due = dueRecipients(state, now).map((r) => r.address);
  due.sort((a, b) => {
    const da = domainOf(a);
    const db = domainOf(b);
    return da < db ? -1 : da > db ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
  const chunks: string[][] = [];
  for (let i = 0; i < due.length; i += maxRecipients) chunks.push(due.slice(i, i + maxRecipients));
  return chunks;
}
