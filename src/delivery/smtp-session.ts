/**
 * One SMTP connection to the smarthost, reused for many transactions
 * (nodemailer's SMTPConnection, promisified). It knows nothing of the
 * spool: it takes an envelope and message bytes and answers per-recipient
 * outcomes (values, not exceptions), except when a transaction never
 * started (E_NOT_STARTED: see send()).
 *
 * Security defaults: certificates are verified unless tls.verify is false;
 * when credentials are configured and the smarthost is not on loopback,
 * STARTTLS is required, so a password or an OAuth2 access token never
 * crosses the network in clear. OAuth2 accounts authenticate with XOAUTH2
 * (xoauth2-login.ts).
 *
 * Failures to open the session are thrown as BulkmailerErrors:
 * E_UNREACHABLE (temporary: the smarthost went away), E_TOO_MANY_SESSIONS
 * (a 421, 432 4.3.2 or "too many connections" at the greeting, EHLO or
 * AUTH: one connection more than the smarthost takes, which the batch may
 * learn from, src/model/connection-cap.ts), E_AUTH (the smarthost refused
 * the credentials) or E_TLS (certificate or STARTTLS failure): for the
 * last two the user must act, and the flush holds the account
 * (src/model/account-hold.ts).
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { Readable } from 'node:stream';
import net from 'node:net';
import { BulkmailerError, ExitCode } from '../errors.js';
import type { Smarthost } from '../config/smarthost.js';
import type { RuntimeConfig } from '../config/runtime.js';
import type { Credentials } from '../config/credentials.js';
import type { AccountSettings } from '../config/accounts.js';
import type { RecipientOutcome } from '../model/transitions.js';
import { needsSmtpUtf8 } from '../model/address.js';
import type { OAuth2Credentials } from './xoauth2-login.js';
import { corkUntilNextTurn, offeredExtensions, transactionSoFar, type TransactionSoFar } from './nodemailer-private.js';
import { classifyFailure, classifySuccess, connectionUsableAfter, tooManySessions, type SendErrorLike } from './classify-reply.js';

export interface SessionOptions {
  smarthost: Smarthost;
  heloName: string;
  /** A password, or an OAuth2 account's tokens (XOAUTH2); null: no AUTH. */
  credentials: Credentials | OAuth2Credentials | null;
  tlsVerify: boolean;
  /** STARTTLS or nothing, credentials or not (an MX under an MTA-STS policy in enforce mode). */
  requireTls?: boolean;
  tlsCa: string | null;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  /**
   * The name the certificate must carry (and SNI) when `smarthost.host` is
   * an address: an MX host is reached by the address we resolved, but
   * checked against its name.
   */
  servername?: string;
}

/** What deliverEntry needs of a session: one transaction in, per-recipient outcomes out. */
export interface TransactionSender {
  send(transaction: Transaction): Promise<RecipientOutcome[]>;
  /** Drops the connection (a transaction cut off mid-DATA leaves it unusable). */
  close(): void;
}

export interface Transaction {
  /** '' is the null sender. */
  from: string;
  to: readonly string[];
  size: number;
  message: Buffer | Readable;
  /**
   * The final dot goes only once this resolves (the transaction's journal
   * line is durable); a rejection cuts the message off before its dot.
   * Absent: the message goes as soon as the smarthost asks for it.
   */
  ready?: Promise<void>;
}

/**
 * The session options of a smarthost under the running config: built here
 * only, for delivery and `doctor` alike (doctor passes a shorter socket
 * timeout: it sends no message).
 */
export function sessionOptionsFor(
  config: RuntimeConfig,
  smarthost: Smarthost,
  credentials: Credentials | OAuth2Credentials | null,
  /** The account's TLS settings (default: the default account's); doctor's shorter socket timeout. */
  overrides: { socketTimeoutMs?: number; account?: Pick<AccountSettings, 'tlsVerify' | 'tlsCa'> | undefined } = {},
): SessionOptions {
  return {
    smarthost,
    heloName: config.heloName,
    credentials,
    tlsVerify: overrides.account?.tlsVerify ?? config.tlsVerify,
    tlsCa: overrides.account === undefined ? config.tlsCa : overrides.account.tlsCa,
    connectTimeoutMs: config.timeouts.connectMs,
    greetingTimeoutMs: config.timeouts.greetingMs,
    socketTimeoutMs: overrides.socketTimeoutMs ?? config.timeouts.socketMs,
  };
}

/**
 * The one place an SMTP connection to the smarthost is configured, for
 * delivery and for `doctor` alike: certificates verified unless tls.verify
 * is false, and STARTTLS required when credentials would otherwise cross the
 * network in clear.
 */
export function createSmtpConnection(options: SessionOptions): SMTPConnection {
  const { smarthost, credentials } = options;
  return new SMTPConnection({
    host: smarthost.host,
    port: smarthost.port,
    secure: smarthost.secure,
    name: options.heloName,
    requireTLS: options.requireTls === true || (credentials !== null && !smarthost.loopback && !smarthost.secure),
    connectionTimeout: options.connectTimeoutMs,
    greetingTimeout: options.greetingTimeoutMs,
    socketTimeout: options.socketTimeoutMs,
    logger: false,
    tls: {
      rejectUnauthorized: options.tlsVerify,
      ca: options.tlsCa ?? undefined,
      servername: options.servername ?? (net.isIP(smarthost.host) ? undefined : smarthost.host),
    },
  });
}

/**
 * Connects (greeting, EHLO, STARTTLS). nodemailer reports some setup
 * failures (refused connection, bad greeting, TLS failure) as an 'error'
 * event rather than through the connect callback: both settle this, once;
 * on failure the connection is closed.
 */
export function connectSmtp(connection: SMTPConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const failed = (err: Error) => {
      if (settled) return;
      settled = true;
      connection.close();
      reject(err);
    };
    connection.once('error', failed);
    connection.connect((err) => {
      if (err) return failed(err);
      if (settled) return;
      settled = true;
      connection.off('error', failed);
      resolve();
    });
  });
}

export class SmtpSession implements TransactionSender {
  private connection: SMTPConnection | null = null;
  private closed = false;

  constructor(private readonly options: SessionOptions) {}

  get isOpen(): boolean {
    return this.connection !== null && !this.closed;
  }

  /** Connects and authenticates; `round` 1 is the one reconnection after an OAuth2 token was renewed. */
  async open(round: 0 | 1 = 0): Promise<void> {
    const { smarthost, credentials } = this.options;
    const connection = createSmtpConnection(this.options);
    try {
      await connectSmtp(connection);
    } catch (err) {
      // 421 at the greeting, "too many connections": the batch decides whether that teaches a figure.
      const crowded = tooManySessions(smarthost.display, err);
      if (crowded !== null) throw crowded;
      if (isTlsFailure(err as SendErrorLike)) {
        // A certificate that does not verify, or STARTTLS refused or missing
        // where required: trying again later gives the same answer.
        const detail = (err as SendErrorLike).response ?? (err as Error).message;
        throw new BulkmailerError('E_TLS', `TLS with ${smarthost.display} failed: ${detail}`, {
          exitCode: ExitCode.protocol,
          temporary: false,
          cause: err,
        });
      }
      throw unreachable(smarthost, err as Error);
    }
    connection.on('error', () => {
      // Later errors also reach the pending send's callback; this keeps an
      // idle socket's late error from crashing the process.
      this.closed = true;
    });
    connection.on('end', () => {
      this.closed = true;
    });
    if (credentials !== null && 'tokens' in credentials) {
      try {
        // Loaded for OAuth2 accounts only (with nodemailer's XOAUTH2 module).
        const { loginXOAuth2 } = await import('./xoauth2-login.js');
        await loginXOAuth2(connection, credentials, smarthost.display, { renewOnPlainRefusal: round === 0 });
      } catch (err) {
        connection.close();
        // The stored token was refused and has been renewed: once more on a fresh connection.
        if (err instanceof BulkmailerError && err.code === 'E_TOKEN_STALE' && round === 0) return this.open(1);
        throw err;
      }
    } else if (credentials !== null) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(unreachable(smarthost, err));
        connection.once('error', onError);
        connection.login({ user: credentials.user, pass: credentials.pass }, (err) => {
          connection.off('error', onError);
          if (!err) return resolve();
          connection.close();
          const crowded = tooManySessions(smarthost.display, err);
          if (crowded !== null) return reject(crowded);
          // err.response is the server's reply; it never contains our password.
          const reply = (err as SendErrorLike).response ?? err.message;
          if ((err as SendErrorLike).responseCode || (err as SendErrorLike).code === 'EAUTH') {
            reject(
              new BulkmailerError('E_AUTH', `${smarthost.display} refused authentication as ${credentials.user}: ${reply}`, {
                exitCode: ExitCode.noPerm,
                temporary: false,
              }),
            );
          } else reject(unreachable(smarthost, err));
        });
      });
    }
    this.connection = connection;
    this.closed = false;
  }

  /**
   * Runs one transaction; failures with a reply come back as outcomes. When
   * the connection was already dead, or died before the smarthost accepted
   * any recipient and without any reply, nothing can have been delivered and
   * no attempt happened: that throws E_NOT_STARTED (the caller reconnects
   * and tries again, or treats the smarthost as gone; promise 4).
   */
  async send(transaction: Transaction): Promise<RecipientOutcome[]> {
    const connection = this.connection;
    if (connection === null || this.closed) throw notStarted('the connection is closed');
    const { refused, to } = this.withoutSmtpUtf8Needs(connection, transaction);
    if (to.length === 0) {
      // Nothing to send: a stream opened for it would keep its file open.
      if (typeof (transaction.message as Readable).destroy === 'function') (transaction.message as Readable).destroy();
      return refused;
    }
    return [...refused, ...(await this.sendEnvelope(connection, { ...transaction, to }))];
  }

  /**
   * Postfix's rule: a non-ASCII address (its domain is already A-labels, see
   * normalizeAddress) goes only to a server that offers SMTPUTF8; otherwise
   * that recipient fails with 5.6.7 (the whole transaction when it is the
   * sender), never raw UTF-8 to a server that did not ask for it.
   */
  private withoutSmtpUtf8Needs(connection: SMTPConnection, transaction: Transaction): { refused: RecipientOutcome[]; to: string[] } {
    const offered = offeredExtensions(connection);
    if (offered.includes('SMTPUTF8')) return { refused: [], to: [...transaction.to] };
    const host = this.options.smarthost.display;
    const fail = (address: string, whose: string): RecipientOutcome => ({
      address,
      kind: 'failed',
      reply: `550 5.6.7 SMTPUTF8 is required for ${whose}, but was not offered by ${host}`,
    });
    if (needsSmtpUtf8(transaction.from)) {
      return { refused: transaction.to.map((a) => fail(a, `the sender ${transaction.from}`)), to: [] };
    }
    return {
      refused: transaction.to.filter(needsSmtpUtf8).map((a) => fail(a, a)),
      to: transaction.to.filter((a) => !needsSmtpUtf8(a)),
    };
  }

  private async sendEnvelope(connection: SMTPConnection, transaction: Transaction): Promise<RecipientOutcome[]> {
    const to = [...transaction.to];
    let notStartedReason: string | null = null;
    const message = transaction.ready === undefined ? transaction.message : heldUntil(connection, transaction.message, transaction.ready);
    const outcomes = await new Promise<RecipientOutcome[]>((resolve) => {
      connection.send(
        { from: transaction.from === '' ? false : transaction.from, to, size: transaction.size, use8BitMime: true },
        message,
        (err, info) => {
          if (err || !info) {
            // Before this transaction began (command API) the envelope is the previous one's.
            const envelope = transactionSoFar(connection);
            const failure = withClosingReplyAttributed((err ?? { message: 'no result' }) as SendErrorLike, envelope);
            const accepted = failure.command !== 'API' && (envelope?.accepted?.length ?? 0) > 0;
            const replied = (typeof failure.responseCode === 'number' && failure.responseCode > 0) || Boolean(failure.response);
            if (!replied && !accepted && LINK_ERRORS.has(failure.code ?? '')) notStartedReason = failure.message;
            resolve(classifyFailure(to, failure, accepted));
          } else {
            resolve(classifySuccess(to, info as unknown as Parameters<typeof classifySuccess>[1]));
          }
        },
      );
    });
    // A stream nodemailer never read (the envelope failed) would keep its file open.
    if (typeof (message as Readable).destroy === 'function') (message as Readable).destroy();
    if (message !== transaction.message && typeof (transaction.message as Readable).destroy === 'function') (transaction.message as Readable).destroy();
    if (notStartedReason !== null) {
      this.close();
      throw notStarted(notStartedReason);
    }
    if (!connectionUsableAfter(outcomes)) this.close();
    else if (outcomes.some((o) => o.kind !== 'sent')) await this.reset();
    return outcomes;
  }

  /** RSET after a failed transaction, so the next starts clean; on failure the session closes. */
  private async reset(): Promise<void> {
    const connection = this.connection;
    if (connection === null || this.closed) return;
    await new Promise<void>((resolve) => {
      connection.reset((err) => {
        if (err) this.close();
        resolve();
      });
    });
  }

  close(): void {
    if (this.connection !== null) {
      const connection = this.connection;
      this.connection = null;
      if (!this.closed) connection.quit();
      connection.close();
    }
    this.closed = true;
  }
}

/**
 * The message as a stream that ends, letting nodemailer send the final dot,
 * only once `ready` resolves. A message in memory is held whole until then
 * and pushed with its end in one go, the socket corked meanwhile, so the
 * bytes and the dot leave in one write (nodemailer writes them separately):
 * one syscall and one wake-up of the smarthost fewer per transaction. A
 * streamed (large) message flows as it is read; only its end waits.
 */
function heldUntil(connection: SMTPConnection, message: Buffer | Readable, ready: Promise<void>): Readable {
  // The stream fails with an error of its own: nodemailer relabels the error it is given (code
  // ESTREAM), and the journal's, which the caller reports, must keep its errno (EIO, ENOSPC...).
  const notDurable = (err: unknown) => new Error('the transaction journal is not durable', { cause: err });
  if (!Buffer.isBuffer(message)) {
    return Readable.from(
      (async function* () {
        for await (const chunk of message) yield chunk as Buffer;
        await ready.catch((err: unknown) => {
          throw notDurable(err);
        });
      })(),
      { objectMode: false },
    );
  }
  let durable = false;
  let asked = false;
  const stream = new Readable({
    read() {
      if (asked) return;
      asked = true;
      if (durable) release();
    },
  });
  const release = () => {
    if (stream.destroyed) return;
    corkUntilNextTurn(connection);
    stream.push(message);
    stream.push(null);
  };
  ready.then(
    () => {
      durable = true;
      if (asked) release();
    },
    (err: unknown) => stream.destroy(notDurable(err)),
  );
  return stream;
}

/**
 * nodemailer ends the session on a 421 wherever it comes and fails the
 * message with an error labelled CONN that carries the reply but not the
 * per-recipient errors gathered so far. When the 421 answered a RCPT TO, say
 * so (Postfix: "in reply to RCPT TO command"), and keep the replies the other
 * recipients already had.
 */
function withClosingReplyAttributed(failure: SendErrorLike, envelope: TransactionSoFar | null): SendErrorLike {
  const gathered = envelope?.rejectedErrors ?? [];
  if (failure.command !== 'CONN' || !failure.response || failure.rejectedErrors !== undefined || gathered.length === 0) {
    return failure;
  }
  const answered = gathered.find((e) => e.response === failure.response);
  return {
    message: failure.message,
    ...(failure.code === undefined ? {} : { code: failure.code }),
    command: answered?.command ?? failure.command,
    response: failure.response,
    ...(failure.responseCode === undefined ? {} : { responseCode: failure.responseCode }),
    rejectedErrors: gathered,
  };
}

/** Certificate problems as Node and nodemailer word them (verification, name mismatch, self-signed). */
export const CERT_ERROR = /certificate|self[- ]signed|unable to verify|CERT_|Hostname\/IP does not match|altnames/i;

/** A session setup failure that is TLS's: nodemailer's ETLS, or a certificate error on an smtps socket. */
export function isTlsFailure(err: { code?: string; message: string; response?: string }): boolean {
  return err.code === 'ETLS' || CERT_ERROR.test(err.message) || CERT_ERROR.test(err.code ?? '');
}

/** nodemailer's codes for a link that broke (as opposed to a reply or a local decision). */
const LINK_ERRORS = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT']);

function notStarted(reason: string): BulkmailerError {
  return new BulkmailerError('E_NOT_STARTED', `the connection broke before the transaction started: ${reason}`, {
    exitCode: ExitCode.tempFail,
  });
}

function unreachable(smarthost: Smarthost, err: Error): BulkmailerError {
  const detail = (err as SendErrorLike).response ?? err.message;
  return new BulkmailerError('E_UNREACHABLE', `cannot open a session with ${smarthost.display}: ${detail}`, {
    exitCode: ExitCode.tempFail,
    cause: err,
  });
}
