/**
 * The listener's SMTP server: the intake (src/frontends/smtp-intake/) with
 * the spool as its only destination. Each DATA is streamed through the
 * header splitter straight into enqueueMessage and answered 250 (with the
 * queue id) only once the entry is durable.
 *
 * Replies, by failure:
 *   552  over listener.maxMessageSize (SIZE at MAIL, or the bytes); nothing stored
 *   554  not a message (no header/body separator, header block too long)
 *   452  the spool cannot take it now (disk full, unwritable); nothing stored
 *   451  anything unexpected; nothing stored
 *   553  a sender or recipient that is not local@domain
 *   530  AUTH is configured and the client has not authenticated
 *   421  the listener is shutting down; too many connections, or idle too
 *        long before MAIL (connection-guard.ts)
 * The message is stored exactly as received (the intake has undone the
 * dot-stuffing; line endings are the client's). The 220 greeting goes out
 * as soon as the connection is accepted.
 *
 * After a 250, the onAccepted hook (`bulkmailer listen`'s log line, a
 * write(2)) and the nudge to a running agent (an access(2) at least) run
 * once the 250 has been written, not before: a client that waits for
 * each reply waits for nothing but the entry's commit. Shutdown waits for
 * them as for the message (`inFlight`).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { BulkmailerError, tempError } from '../../errors.js';
import { isEnvelopeAddress } from '../../model/address.js';
import { prepareMessage } from '../../message/prepare-message.js';
import { enqueueMessage, nudgeFlusher, type Spool } from '../../spool/index.js';
import type { ListenerSettings } from './listener-settings.js';
import { IntakeServer, type IntakeReply, type IntakeSession } from '../smtp-intake/intake-server.js';
import { ConnectionGuard } from './connection-guard.js';
import { InFlight } from './in-flight.js';
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
  acceptConnection?(session: IntakeSession): Promise<boolean>;
}

export interface SpoolSmtpServer {
  server: IntakeServer;
  /** DATA transactions whose reply is not decided yet, and the work after each 250 (afterReply) until it has run. */
  inFlight: InFlight;
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

export function createSpoolSmtpServer(spool: Spool, settings: ListenerSettings, hooks: SpoolSmtpHooks): SpoolSmtpServer {
  const inFlight = new InFlight();

  const accept = async (message: AsyncIterable<Buffer>, session: IntakeSession): Promise<AcceptedMessage> => {
    if (hooks.isClosing()) throw tempError('the listener is shutting down', 'E_SHUTTING_DOWN');
    const from = session.mailFrom ?? '';
    const recipients = [...session.recipients];
    const prepared = await prepareMessage(message);
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

  /**
   * Runs `work` after the reply being decided now has been written: the
   * intake writes it from a then() of this turn's microtasks, and an
   * immediate runs after them. Shutdown waits for it (inFlight).
   */
  const afterReply = (work: () => void): void => {
    const done = new Promise<void>((resolve) =>
      setImmediate(() => {
        try {
          work();
        } finally {
          resolve();
        }
      }),
    );
    inFlight.track(done);
  };

  const transaction = (message: AsyncIterable<Buffer>, session: IntakeSession): Promise<IntakeReply> =>
    accept(message, session).then(
      (accepted) => {
        afterReply(() => {
          try {
            hooks.onAccepted?.(accepted);
          } catch {
            // A hook that throws has no one to tell: the message is stored and answered.
          }
          if (hooks.nudge !== false) void nudgeFlusher(spool);
        });
        // The entry is durable: the client gets its 250 whatever a hook does.
        return { code: 250, text: `Ok: queued as ${accepted.id}` };
      },
      (err: unknown) => {
        const reply = replyForEnqueueError(err);
        try {
          hooks.onRejected?.(reply.code, err instanceof Error ? err.message : String(err));
        } catch {
          // As above: the reply must still go out.
        }
        return { code: reply.code, text: reply.message };
      },
    );

  const server: IntakeServer = new IntakeServer(
    {
      name: os.hostname(),
      banner: 'bulkmailer ready',
      maxMessageSize: settings.maxMessageSize,
      tls: settings.tls,
      auth: settings.auth !== null,
    },
    {
      onConnect(session): IntakeReply | null | Promise<IntakeReply | null> {
        if (!guard.admit(session)) return { code: 421, text: 'Error: too many connections, try again later' };
        if (!hooks.acceptConnection) return null;
        return hooks.acceptConnection(session).then(
          (ok) => (ok ? null : { code: 554, text: 'Error: not your session' }),
          () => ({ code: 421, text: 'Error: try again later' }),
        );
      },
      authenticate(username, password) {
        const expected = settings.auth;
        if (expected === null) return false;
        const userOk = sameSecret(username, expected.user);
        const passOk = sameSecret(password, expected.pass);
        return userOk && passOk;
      },
      onMailFrom(address, session) {
        if (hooks.isClosing()) return { code: 421, text: 'Error: shutting down, try again later' };
        if (settings.auth !== null && session.user === null) {
          return { code: 530, text: 'Error: authentication required (STARTTLS, then AUTH)' };
        }
        if (address !== '' && !isEnvelopeAddress(address)) return { code: 553, text: `Error: bad sender address ${address}` };
        guard.started(session);
        return null;
      },
      onRcptTo(address) {
        if (!isEnvelopeAddress(address)) return { code: 553, text: `Error: bad recipient address ${address}` };
        return null;
      },
      onData(message, session) {
        const answer = transaction(message, session);
        inFlight.track(answer);
        return answer;
      },
      onClose(session) {
        guard.closed(session);
      },
    },
  );
  const guard: ConnectionGuard = new ConnectionGuard(() => server.connections.size, {
    maxConnections: settings.maxConnections ?? DEFAULT_CONFIG.listener.maxConnections,
    idleTimeoutMs: settings.idleTimeoutMs ?? parseDuration(DEFAULT_CONFIG.listener.idleTimeout),
  });
  server.server.maxConnections = guard.socketLimit();
  return { server, inFlight };
}
