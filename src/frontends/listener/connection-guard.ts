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
import type { IntakeSession } from '../smtp-intake/intake-server.js';

export interface ConnectionLimits {
  maxConnections: number;
  idleTimeoutMs: number;
}

export class ConnectionGuard {
  /** Connections that have not started a transaction, oldest first (Map keeps insertion order). */
  private readonly idle = new Map<IntakeSession, NodeJS.Timeout>();

  constructor(
    /** Connections open now, the new one included. */
    private readonly openConnections: () => number,
    private readonly limits: ConnectionLimits,
  ) {}

  /** The TCP server's own cap on descriptors (net.Server.maxConnections). */
  socketLimit(): number {
    return this.limits.maxConnections * 2;
  }

  /** A new connection: makes room if it can; false when it must be refused. */
  admit(session: IntakeSession): boolean {
    if (this.openConnections() > this.limits.maxConnections) {
      const victim = [...this.idle.keys()].find((other) => other !== session);
      if (victim === undefined) return false;
      this.closeIdle(victim, 'too many connections, closing idle ones; try again later');
    }
    const timer = setTimeout(
      () => this.closeIdle(session, 'idle too long without a transaction, closing'),
      this.limits.idleTimeoutMs,
    );
    timer.unref();
    this.idle.set(session, timer);
    return true;
  }

  /** MAIL FROM: the connection carries mail now and is neither timed out nor evicted. */
  started(session: IntakeSession): void {
    this.forget(session);
  }

  closed(session: IntakeSession): void {
    this.forget(session);
  }

  private forget(session: IntakeSession): void {
    const timer = this.idle.get(session);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.idle.delete(session);
  }

  private closeIdle(session: IntakeSession, why: string): void {
    this.forget(session);
    // A 421 closes the connection (the intake ends it after writing).
    session.send(421, `4.7.0 ${why}`);
  }
}
