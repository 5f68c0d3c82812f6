/**
 * An smtp-server instance whose only destination is the spool: each DATA
 * is streamed through the header splitter straight into enqueueMessage and
 * answered 250 (with the queue id) only once the entry is durable.
 *
 * Replies, by failure:
 *   552  over listener.maxMessageSize (SIZE); nothing stored
 *   554  not a message (no header/body separator, header block too long)
 *   452  the spool cannot take it now (disk full, unwritable); nothing stored
 *   451  anything unexpected; nothing stored
 *   553  a sender or recipient that is not local@domain
 *   530  AUTH is configured and the client has not authenticated
 *   421  the listener is shutting down; too many connections, or idle too
 *        long before MAIL (connection-guard.ts)
 * The message is stored exactly as received (smtp-server has already undone
 * the dot-stuffing; line endings are the client's CRLF). The 220 greeting
 * goes out as soon as the connection is accepted (prompt-greeting-server.ts).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Readable } from 'node:stream';
import type { SMTPServer, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { BulkmailerError, tempError } from '../../errors.js';
import { isEnvelopeAddress } from '../../model/address.js';
import { prepareMessage } from '../../message/prepare-message.js';
import { enqueueMessage, nudgeFlusher, type Spool } from '../../spool/index.js';
import type { ListenerSettings } from './listener-settings.js';
import { PromptGreetingSMTPServer } from './prompt-greeting-server.js';
import { ConnectionGuard } from './connection-guard.js';
import { DEFAULT_CONFIG } from '../../config/schema.js';
import { parseDuration } from '../../config/duration.js';

export interface AcceptedMessage {
  id: string;
  from: string;
  recipients: number;
  size: number;
}

export interface SpoolSmtpHooks {
  /** True once shutdown began: new transactions get 421. */
  isClosing(): boolean;
  onAccepted?(message: AcceptedMessage): void;
  onRejected?(reply: number, reason: string): void;
  /** Nudge a running agent after each accepted message (default true). */
  nudge?: boolean;
  /** Decides whether to serve a new connection (default: every one). */
  acceptConnection?(session: SMTPServerSession): Promise<boolean>;
}

export interface SpoolSmtpServer {
  server: SMTPServer;
  /** DATA transactions whose reply is not decided yet. */
  inFlight: Set<Promise<void>>;
}

function smtpError(code: number, message: string): Error {
  const err = new Error(message) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}

/** The SMTP reply for a failed enqueue: permanent only when the message itself is at fault. */
export function replyForEnqueueError(err: unknown): { code: number; message: string } {
  if (err instanceof BulkmailerError) {
    if (err.code === 'E_SHUTTING_DOWN') return { code: 421, message: 'Error: shutting down, try again later' };
    if (err.code === 'E_TOO_BIG') return { code: 552, message: `Error: ${err.message}` };
    if (!err.temporary && err.exitCode === 65) return { code: 554, message: `Error: ${err.message}` };
    return { code: 452, message: `Error: cannot store the message now, try again later (${err.code})` };
  }
  return { code: 451, message: 'Error: local error in processing, try again later' };
}

function sameSecret(given: string | null | undefined, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given ?? '').digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b) && given === expected;
}

/** Reads the DATA stream without destroying it when we stop early (smtp-server drains the rest). */
function chunksOf(stream: SMTPServerDataStream): AsyncIterable<Buffer> {
  return (stream as Readable).iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
}

export function createSpoolSmtpServer(
  spool: Spool,
  settings: ListenerSettings,
  hooks: SpoolSmtpHooks,
  extraOptions: Partial<SMTPServerOptions> = {},
): SpoolSmtpServer {
  const inFlight = new Set<Promise<void>>();
  const disabledCommands: string[] = [];
  if (settings.auth === null) disabledCommands.push('AUTH');
  if (settings.tls === null) disabledCommands.push('STARTTLS');

  const accept = async (stream: SMTPServerDataStream, session: SMTPServerSession): Promise<AcceptedMessage> => {
    if (hooks.isClosing()) throw tempError('the listener is shutting down', 'E_SHUTTING_DOWN');
    const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    const prepared = await prepareMessage(chunksOf(stream));
    const result = await enqueueMessage(spool, {
      from,
      recipients,
      message: prepared.message,
      subject: prepared.subject,
      messageId: prepared.messageId,
      maxSize: settings.maxMessageSize,
    });
    return { id: result.id, from, recipients: result.state.recipients.length, size: result.size };
  };

  const options: SMTPServerOptions = {
    name: os.hostname(),
    banner: 'bulkmailer ready',
    logger: false,
    disableReverseLookup: true,
    size: settings.maxMessageSize,
    rejectOversized: true,
    hideREQUIRETLS: true,
    disabledCommands,
    authOptional: settings.auth === null,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    ...(settings.tls === null ? {} : { key: settings.tls.key, cert: settings.tls.cert }),
    onConnect(session, callback) {
      if (!guard.admit(session)) return callback(smtpError(421, 'Error: too many connections, try again later'));
      // AUTH is offered (and accepted) only once the session is encrypted.
      if (settings.auth !== null && !session.secure) session.disabledCommands = [...disabledCommands, 'AUTH'];
      if (!hooks.acceptConnection) return callback();
      hooks.acceptConnection(session).then(
        (ok) => callback(ok ? undefined : smtpError(554, 'Error: not your session')),
        () => callback(smtpError(421, 'Error: try again later')),
      );
    },
    onSecure(_socket, session, callback) {
      session.disabledCommands = disabledCommands;
      callback();
    },
    onAuth(auth, _session, callback) {
      const expected = settings.auth;
      if (expected !== null && (auth.method === 'PLAIN' || auth.method === 'LOGIN')) {
        const userOk = sameSecret(auth.username, expected.user);
        const passOk = sameSecret(auth.password, expected.pass);
        if (userOk && passOk) return callback(null, { user: expected.user });
      }
      callback(smtpError(535, 'Error: authentication failed'));
    },
    onMailFrom(address, session, callback) {
      if (hooks.isClosing()) return callback(smtpError(421, 'Error: shutting down, try again later'));
      // Enforced here too: smtp-server skips its own check while AUTH is hidden before STARTTLS.
      if (settings.auth !== null && !session.user) {
        return callback(smtpError(530, 'Error: authentication required (STARTTLS, then AUTH)'));
      }
      if (address.address !== '' && !isEnvelopeAddress(address.address)) {
        return callback(smtpError(553, `Error: bad sender address ${address.address}`));
      }
      guard.started(session);
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (!isEnvelopeAddress(address.address)) {
        return callback(smtpError(553, `Error: bad recipient address ${address.address}`));
      }
      callback();
    },
    onData(stream, session, callback) {
      const transaction = accept(stream, session).then(
        (accepted) => {
          // The entry is durable: the client gets its 250 whatever a hook does.
          callback(null, `Ok: queued as ${accepted.id}`);
          try {
            hooks.onAccepted?.(accepted);
          } catch {
            // A throwing hook must not turn a stored message into an unanswered one.
          }
          if (hooks.nudge !== false) void nudgeFlusher(spool);
        },
        (err: unknown) => {
          const reply = replyForEnqueueError(err);
          try {
            hooks.onRejected?.(reply.code, err instanceof Error ? err.message : String(err));
          } catch {
            // As above: the reply must still go out.
          }
          // Drain whatever the client still sends; smtp-server replies once the stream ends.
          stream.on('data', () => {});
          stream.resume();
          callback(smtpError(reply.code, reply.message));
        },
      );
      inFlight.add(transaction);
      void transaction.finally(() => inFlight.delete(transaction));
    },
    onClose(session) {
      guard.closed(session);
    },
    ...extraOptions,
  };
  // Greets at once: smtp-server's early-talker pause is for servers facing the internet.
  const server = new PromptGreetingSMTPServer(options);
  const guard = new ConnectionGuard(server, {
    maxConnections: settings.maxConnections ?? DEFAULT_CONFIG.listener.maxConnections,
    idleTimeoutMs: settings.idleTimeoutMs ?? parseDuration(DEFAULT_CONFIG.listener.idleTimeout),
  });
  guard.bindSocketLimit();
  return { server, inFlight };
}
