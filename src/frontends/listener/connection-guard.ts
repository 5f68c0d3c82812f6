/**
 * Keeps the listener serving real clients when idle connections pile up
 * (issue 11 item 8: 600 idle connections at a 512 descriptor limit locked
 * everyone out for a minute).
 *
 *   - a connection that has not started a transaction (MAIL) within
 *     `idleTimeoutMs` is told 421 and closed: shorter than the socket
 *     timeout, which still bounds silence inside a transaction;
 *   - at most `maxConnections` are served: past it, the connection idle
 *     longest before MAIL is told 421 and closed to make room (Postfix's
 *     stress mode makes the same trade: idle clients go first); when every
 *     connection is inside a transaction, the new one is refused with 421;
 *   - the TCP server itself drops connections past twice the cap, so a
 *     flood arriving faster than the evictions never runs out of
 *     descriptors.
 * 421 tells a real client to come back later; nothing it sent is lost.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';

export interface ConnectionLimits {
  maxConnections: number;
  idleTimeoutMs: number;
}

/** What this module uses of smtp-server's connection objects. */
interface OpenConnection {
  id: string;
  send(code: number, message: string): void;
  close(): void;
}

export class ConnectionGuard {
  /** Connections that have not started a transaction, oldest first (Map keeps insertion order). */
  private readonly idle = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly server: SMTPServer,
    private readonly limits: ConnectionLimits,
  ) {}

  /** Bounds the descriptors the TCP server may hold; call once the server exists. */
  bindSocketLimit(): void {
    this.server.server.maxConnections = this.limits.maxConnections * 2;
  }

  /** onConnect: makes room if it can; false when the new connection must be refused. */
  admit(session: SMTPServerSession): boolean {
    const open = this.server.connections.size;
    if (open > this.limits.maxConnections) {
      const victim = [...this.idle.keys()].find((id) => id !== session.id);
      if (victim === undefined) return false;
      this.closeIdle(victim, 'too many connections, closing idle ones; try again later');
    }
    const timer = setTimeout(
      () => this.closeIdle(session.id, 'idle too long without a transaction, closing'),
      this.limits.idleTimeoutMs,
    );
    timer.unref();
    this.idle.set(session.id, timer);
    return true;
  }

  /** MAIL FROM: the connection carries mail now and is neither timed out nor evicted. */
  started(session: SMTPServerSession): void {
    this.forget(session.id);
  }

  closed(session: SMTPServerSession): void {
    this.forget(session.id);
  }

  private forget(id: string): void {
    const timer = this.idle.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.idle.delete(id);
  }

  private closeIdle(id: string, why: string): void {
    this.forget(id);
    for (const connection of this.server.connections as Set<unknown> as Set<OpenConnection>) {
      if (connection.id !== id) continue;
      connection.send(421, `4.7.0 ${why}`);
      connection.close();
    }
  }
}
