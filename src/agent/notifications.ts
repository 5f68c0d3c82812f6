/**
 * What the agent tells the user on the desktop, and how often: the events
 * worth a notification, the Notifier interface that shows one, and the
 * batcher that turns a burst of events into one notification per kind.
 *
 * Events are collected while a flush runs and sent when it ends (`send`):
 * a flush that bounces 300 messages makes one "300 messages bounced". Per
 * kind, at most one notification per MIN_INTERVAL_MS; events in between
 * wait and are counted into the next one. An account that needs attention
 * is shown again only when its reason changes, or after REPEAT_SAME_MS.
 *
 * Never throws: a notifier that fails is reported through `onError` (the
 * agent logs it) and delivery goes on.
 */

export type NotificationEvent =
  /** An account paused by its provider or held until the user acts (the flush's 'held' event). */
  | { kind: 'account-attention'; account: string; reason: string }
  /** A message bounced: some recipients failed for good, and its sender got a report. */
  | { kind: 'bounced'; id: string; subject: string | null }
  /** A message has waited longer than `delayWarning`; its sender got a delay warning. */
  | { kind: 'delayed'; id: string; subject: string | null; waiting: number }
  /** Entries held for review (onCrash hold after a crash). */
  | { kind: 'held'; id: string; reason: string };

export type NotificationKind = NotificationEvent['kind'];

export interface Notification {
  title: string;
  body: string;
  urgency: 'low' | 'normal' | 'critical';
}

/** Shows a notification. Implementations: desktop-notifier.ts (notify-send, gdbus, osascript); tests: fakes. */
export interface Notifier {
  notify(notification: Notification): Promise<void>;
}

/** Per kind, at most one notification this often. */
export const MIN_INTERVAL_MS = 5 * 60_000;
/** The same account problem is shown again after this long. */
export const REPEAT_SAME_MS = 60 * 60_000;

const KINDS: readonly NotificationKind[] = ['account-attention', 'held', 'bounced', 'delayed'];

export class NotificationBatcher {
  private readonly pending = new Map<NotificationKind, NotificationEvent[]>();
  private readonly lastSent = new Map<NotificationKind, number>();
  private readonly lastAccountReason = new Map<string, { reason: string; at: number }>();

  constructor(
    private readonly notifier: Notifier,
    private readonly now: () => number = Date.now,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  add(event: NotificationEvent): void {
    if (event.kind === 'account-attention') {
      const last = this.lastAccountReason.get(event.account);
      if (last !== undefined && last.reason === event.reason && this.now() - last.at < REPEAT_SAME_MS) return;
    }
    const list = this.pending.get(event.kind) ?? [];
    list.push(event);
    this.pending.set(event.kind, list);
  }

  /** Sends one notification per kind with events waiting, where the rate allows; the rest wait. */
  async send(): Promise<void> {
    for (const kind of KINDS) {
      const events = this.pending.get(kind);
      if (events === undefined || events.length === 0) continue;
      const last = this.lastSent.get(kind);
      const now = this.now();
      if (last !== undefined && now - last < MIN_INTERVAL_MS) continue;
      this.pending.delete(kind);
      this.lastSent.set(kind, now);
      for (const e of events) if (e.kind === 'account-attention') this.lastAccountReason.set(e.account, { reason: e.reason, at: now });
      try {
        await this.notifier.notify(describe(events));
      } catch (err) {
        this.onError(err as Error);
      }
    }
  }
}

/** The words of one notification for a burst of events of one kind. */
export function describe(events: readonly NotificationEvent[]): Notification {
  const first = events[0]!;
  const ids = new Set(events.map((e) => ('id' in e ? e.id : '')));
  const n = ids.size;
  const quoted = (subject: string | null) => (subject === null || subject === '' ? 'A message' : `"${shorten(subject)}"`);
  switch (first.kind) {
    case 'account-attention': {
      const accounts = [...new Set(events.map((e) => (e as typeof first).account))];
      return {
        title: accounts.length === 1 ? `bulkmailer: ${accounts[0]} needs attention` : `bulkmailer: ${accounts.length} accounts need attention`,
        body: `${(events[events.length - 1] as typeof first).reason}\nMail for it is kept, not bounced. See bulkmailer doctor.`,
        urgency: 'critical',
      };
    }
    case 'bounced':
      return {
        title: n === 1 ? `bulkmailer: ${quoted(first.subject)} bounced` : `bulkmailer: ${n} messages bounced`,
        body: `Some recipients refused ${n === 1 ? 'it' : 'them'} for good; the sender got a report. See bulkmailer log.`,
        urgency: 'normal',
      };
    case 'delayed':
      return {
        title: n === 1 ? `bulkmailer: ${quoted(first.subject)} is delayed` : `bulkmailer: ${n} messages delayed`,
        body: `Still being retried; the sender got a delay warning. See bulkmailer status.`,
        urgency: 'low',
      };
    case 'held':
      return {
        title: n === 1 ? 'bulkmailer: a message is held for review' : `bulkmailer: ${n} messages held for review`,
        body: `${first.reason}\nCheck, then: bulkmailer release ${n === 1 ? first.id : 'ID'}`,
        urgency: 'normal',
      };
  }
}

function shorten(text: string): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  return chars.length <= 60 ? chars.join('') : `${chars.slice(0, 57).join('')}...`;
}
