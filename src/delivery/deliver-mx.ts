/**
 * Direct delivery of one pass: bins of entries per destination (an MX host
 * set), drained by channels. A channel is one connection to the
 * destination's best reachable MX that takes the bin's entries one after
 * another over the same connection; ChannelScheduler decides which bin gets
 * the next channel so that none starves. Each entry is delivered by
 * deliverEntry, limited to the recipients the plan put in the bin for it
 * (MxBin.recipients: due, routed to mx, of the bin's domains), so states,
 * bounces, removal and the crash window are exactly the smarthost's.
 *
 * A destination whose every MX host fails (refused, timeout, 421 greeting)
 * is marked down in DestinationHealth and its bin leaves this run: its
 * recipients wait, no attempt counted. So is a destination that refuses
 * our sender or answers like a quota (account-replies.ts): a refusal about
 * the sender is not a failure of its recipients (promise 6). Mail whose
 * sender's domain has a DKIM key is signed as it is sent (dkim-sign.ts).
 * Recipients whose domain DNS already
 * decided (null MX, NXDOMAIN: failed; SERVFAIL: deferred) go through the
 * `answer` of the DNS bin, with no connection at all.
 *
 * Never throws: fatal errors (a full disk, a bug) come back in the result
 * once every channel has finished its transaction in flight.
 */
import type { Readable } from 'node:stream';
import { isLoopbackHost } from '../config/smarthost.js';
import type { RuntimeConfig } from '../config/runtime.js';
import { BulkmailerError, ExitCode } from '../errors.js';
import type { RecipientOutcome } from '../model/transitions.js';
import { orderHosts, type MxHost } from '../mx/resolve-mx.js';
import type { Spool } from '../spool/index.js';
import type { EntryState } from '../model/entry-state.js';
import { ChannelScheduler } from './channel-scheduler.js';
import { closeBatchRecords, entryContextBase, openBatchRecords, type BatchCallbacks } from './deliver-batch.js';
import { deliverEntry, type EntryDeliveryContext, type TransactionRecorder } from './deliver-entry.js';
import type { DestinationHealth } from './destination-health.js';
import type { AccountRefusal } from './account-replies.js';
import { dkimSigner } from './dkim-sign.js';
import { SmtpSession, type Transaction, type TransactionSender } from './smtp-session.js';
import { E_TOO_MANY_SESSIONS } from './classify-reply.js';

export interface MxBin {
  /** The destination's identity: its MX host names, sorted (hostSetKey), or "dns" for the DNS bin. */
  key: string;
  hosts: readonly MxHost[];
  entries: string[];
  /**
   * The recipients of each entry this bin delivers (due when planned,
   * routed to mx, of its domains): a recipient of the same domain that
   * became due after the plan is the next pass's.
   */
  recipients: ReadonlyMap<string, readonly string[]>;
  /** Set for the DNS bin: each recipient's outcome, decided without a connection. */
  answer?: (address: string) => RecipientOutcome;
  /** STARTTLS with a certificate valid for the MX host's name, or no delivery (MTA-STS enforce). */
  requireTls?: boolean;
}

export interface MxBatchSettings {
  spool: Spool;
  config: RuntimeConfig;
  health: DestinationHealth;
  now: () => number;
  random?: () => number;
  /**
   * States the flush's plan read, by entry id: the first channel to deliver
   * an entry takes its own and uses it only if the file is still that
   * version (EntryDeliveryContext.plannedStates), as account batches do.
   */
  plannedStates?: Map<string, EntryState>;
}

export interface MxBatchResult {
  fatal: unknown;
  /** Destinations found down in this pass. */
  down: string[];
  /** Connections opened (for the bench and tests). */
  connections: number;
}

/** Entries a channel delivers before it may give its slot to a bin that has none. */
const CHANNEL_QUANTUM = 20;

export async function deliverMxBatch(
  settings: MxBatchSettings,
  bins: readonly MxBin[],
  attempted: Map<string, Set<string>>,
  stopped: () => boolean,
  callbacks: BatchCallbacks,
): Promise<MxBatchResult> {
  const { spool, config, health } = settings;
  let fatal: unknown = null;
  const records = await openBatchRecords(spool, (err) => (fatal ??= err));
  if ('fatal' in records) return { fatal: records.fatal, down: [], connections: 0 };
  const { log, syncer, journal, finished } = records;
  const down: string[] = [];
  let connections = 0;
  const stopping = () => stopped() || fatal !== null;
  const base = entryContextBase(settings, { log, syncer, journal, finished, attempted, stopping, callbacks });
  const byKey = new Map(bins.map((b) => [b.key, b]));
  const sign = dkimSigner(config.dkim);
  const scheduler = new ChannelScheduler(
    bins.map((b) => [b.key, b.entries] as [string, string[]]),
    { global: config.concurrency, perDestination: config.mx.destinationConcurrency, quantum: CHANNEL_QUANTUM },
  );

  const running = new Set<Promise<void>>();
  const launch = () => {
    if (stopping()) return;
    for (let key = scheduler.openChannel(); key !== null; key = scheduler.openChannel()) {
      const channel = runChannel(byKey.get(key)!).finally(() => running.delete(channel));
      running.add(channel);
    }
  };

  /** Every MX of the destination failed, or it refused us: it waits out its backoff, its bin leaves this run. */
  const markDown = (key: string, reason: string) => {
    const record = health.markDown(key, key, reason, settings.now(), config.retry);
    scheduler.dropBin(key);
    down.push(key);
    callbacks.onWarning(`destination ${key} is down until ${record.until}: ${reason}`);
  };

  const runChannel = async (bin: MxBin): Promise<void> => {
    let session: SmtpSession | null = null;
    let host = bin.key;
    let done = 0;
    // A refusal about the sender (or a quota/rate reply) from this destination holds it, not its recipients (promise 6).
    let refused: AccountRefusal | null = null;
    const open = async (): Promise<TransactionSender> => {
      if (bin.answer !== undefined) return new AnswerSender(bin.answer);
      if (session?.isOpen) return session;
      const opened = await openMxSession(bin, config, settings.random);
      connections++;
      session = opened.session;
      host = opened.host;
      health.markUp(bin.key);
      return session;
    };
    const ctx: EntryDeliveryContext = {
      ...base,
      get smarthostDisplay() {
        return bin.answer !== undefined ? 'dns' : `mx:${host}`;
      },
      get smarthostHost() {
        return host;
      },
      session: open,
      stopping: () => stopping() || refused !== null,
      accountReplies: [],
      onAccountRefused: (refusal) => (refused ??= refusal),
      // DNS decided the DNS bin's outcomes and nothing is sent: no crash can make a duplicate of it.
      ...(bin.answer !== undefined ? { journal: NOTHING_SENT } : {}),
      // Sending limits are a provider account's; an MX host has none of ours.
      limiter: null,
      plannedStates: settings.plannedStates,
      plannedRecipients: bin.recipients,
      ...(sign !== null && bin.answer === undefined ? { prepareMessage: sign } : {}),
    };
    try {
      while (!stopping() && refused === null) {
        const id = scheduler.takeEntry(bin.key);
        if (id === null) break;
        try {
          await deliverEntry(ctx, id);
        } catch (err) {
          // A session refused as one too many (432 4.3.2 to its MAIL FROM) is a destination that will not talk now.
          if (err instanceof BulkmailerError && (err.code === 'E_UNREACHABLE' || err.code === E_TOO_MANY_SESSIONS)) {
            markDown(bin.key, err.message);
            break;
          }
          fatal ??= err;
        } finally {
          scheduler.finishEntry(id);
          done++;
        }
        if (refused !== null) {
          markDown(bin.key, `refused: ${(refused as AccountRefusal).reply}`);
          break;
        }
        launch();
        if (scheduler.shouldYield(bin.key, done)) break;
      }
    } finally {
      (session as SmtpSession | null)?.close();
      scheduler.closeChannel(bin.key);
      launch();
    }
  };

  try {
    launch();
    while (running.size > 0) await Promise.race(running);
  } finally {
    fatal = await closeBatchRecords(records, fatal);
  }
  return { fatal, down, connections };
}

/**
 * Opens a session with the first MX that takes one: hosts by preference
 * (equal ones shuffled), each of its addresses in turn. Certificates are
 * checked against the host's name only with mx.tls verify; otherwise
 * STARTTLS, when offered, is used without checking (RFC 7435).
 */
async function openMxSession(
  bin: MxBin,
  config: RuntimeConfig,
  random: (() => number) | undefined,
): Promise<{ session: SmtpSession; host: string }> {
  const problems: string[] = [];
  for (const host of orderHosts(bin.hosts, random)) {
    for (const address of host.addresses) {
      const display = `${host.name}[${address}]:${config.mx.port}`;
      const session = new SmtpSession({
        smarthost: {
          secure: false,
          host: address,
          port: config.mx.port,
          user: null,
          pass: null,
          loopback: isLoopbackHost(address),
          display,
        },
        servername: host.name,
        heloName: config.heloName,
        credentials: null,
        tlsVerify: config.mx.tlsVerify || bin.requireTls === true,
        requireTls: bin.requireTls === true,
        tlsCa: config.tlsCa,
        connectTimeoutMs: config.timeouts.connectMs,
        greetingTimeoutMs: config.timeouts.greetingMs,
        socketTimeoutMs: config.timeouts.socketMs,
      });
      try {
        await session.open();
        return { session, host: display };
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  throw new BulkmailerError('E_UNREACHABLE', `no MX host took a connection: ${problems.join('; ') || 'no addresses'}`, {
    exitCode: ExitCode.tempFail,
  });
}

const NOTHING_SENT: TransactionRecorder = { begin: () => Promise.resolve(), error: null };

/** The DNS bin's "session": outcomes decided by DNS, no connection, the message never read. */
class AnswerSender implements TransactionSender {
  constructor(private readonly answer: (address: string) => RecipientOutcome) {}

  async send(transaction: Transaction): Promise<RecipientOutcome[]> {
    const stream = transaction.message as Readable;
    if (typeof stream.destroy === 'function') stream.destroy();
    return transaction.to.map((address) => this.answer(address));
  }

  close(): void {}
}
