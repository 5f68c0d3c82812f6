/**
 * Which bin gets the next connection, pure (no I/O, no timers): the
 * bookkeeping behind direct delivery's channels.
 *
 * A bin is the work for one destination (an MX host set): entry ids in
 * order. A channel is one connection to that destination that takes the
 * bin's entries one after another until the bin is empty. The rules:
 *
 *   - at most `global` channels in all and `perDestination` per bin;
 *   - a free slot goes to the bin with the fewest open channels (then the
 *     one served least), so every bin gets a channel before any bin gets
 *     a second: a big bin does not hold the small ones behind it;
 *   - when every slot is taken and a bin with work has no channel at all,
 *     a channel that has done `quantum` entries yields (closes) after its
 *     current entry, so that bin gets its turn;
 *   - an entry is in one channel at a time (its transactions never overlap,
 *     promise 3): a channel skips entries another channel holds, and they
 *     stay in the bin for later.
 */
export interface SchedulerLimits {
  global: number;
  perDestination: number;
  /** Entries a channel does before it may yield to a bin that has no channel. */
  quantum: number;
}

interface BinState {
  queue: string[];
  open: number;
  served: number;
}

export class ChannelScheduler {
  private readonly bins = new Map<string, BinState>();
  private readonly busyEntries = new Set<string>();
  private openChannels = 0;

  constructor(
    bins: Iterable<[key: string, entries: readonly string[]]>,
    private readonly limits: SchedulerLimits,
  ) {
    for (const [key, entries] of bins) if (entries.length > 0) this.bins.set(key, { queue: [...entries], open: 0, served: 0 });
  }

  get channels(): number {
    return this.openChannels;
  }

  /** Whether any bin still has entries (taken or not). */
  get idle(): boolean {
    return this.openChannels === 0 && ![...this.bins.values()].some((b) => b.queue.length > 0);
  }

  /** The bin a new channel should open for, registering the channel; null when none should. */
  openChannel(): string | null {
    if (this.openChannels >= this.limits.global) return null;
    let best: [string, BinState] | null = null;
    for (const entry of this.bins) {
      const [, bin] = entry;
      if (bin.open >= this.limits.perDestination || !this.hasFreeEntry(bin)) continue;
      // A bin with fewer free entries than channels gains nothing from another one.
      if (bin.open > 0 && !this.hasMoreFreeEntriesThan(bin, bin.open)) continue;
      if (best === null || bin.open < best[1].open || (bin.open === best[1].open && bin.served < best[1].served)) best = entry;
    }
    if (best === null) return null;
    best[1].open++;
    best[1].served++;
    this.openChannels++;
    return best[0];
  }

  /** The next entry for a channel of `key`, now held by it; null when it has none it may take. */
  takeEntry(key: string): string | null {
    const bin = this.bins.get(key);
    if (bin === undefined) return null;
    const index = bin.queue.findIndex((id) => !this.busyEntries.has(id));
    if (index < 0) return null;
    const [id] = bin.queue.splice(index, 1);
    this.busyEntries.add(id!);
    return id!;
  }

  finishEntry(id: string): void {
    this.busyEntries.delete(id);
  }

  /** Should a channel of `key` that has done `done` entries give its slot away? */
  shouldYield(key: string, done: number): boolean {
    if (done < this.limits.quantum || this.openChannels < this.limits.global) return false;
    for (const [other, bin] of this.bins) if (other !== key && bin.open === 0 && this.hasFreeEntry(bin)) return true;
    return false;
  }

  closeChannel(key: string): void {
    const bin = this.bins.get(key);
    if (bin !== undefined) bin.open--;
    this.openChannels--;
  }

  /** The destination is down: its remaining entries leave this run (their recipients wait, uncounted). */
  dropBin(key: string): string[] {
    const bin = this.bins.get(key);
    if (bin === undefined) return [];
    const dropped = bin.queue;
    bin.queue = [];
    return dropped;
  }

  private hasFreeEntry(bin: BinState): boolean {
    return bin.queue.some((id) => !this.busyEntries.has(id));
  }

  private hasMoreFreeEntriesThan(bin: BinState, count: number): boolean {
    let n = 0;
    for (const id of bin.queue) if (!this.busyEntries.has(id) && ++n > count) return true;
    return false;
  }
}
