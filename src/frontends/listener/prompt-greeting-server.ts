/**
 * An SMTPServer that sends its 220 greeting as soon as a connection is set
 * up, without smtp-server's early-talker pause.
 *
 * smtp-server (3.21) waits 100 ms before every greeting, with no option to
 * change it: SMTPConnection.init() arms `setTimeout(() =>
 * this.connectionReady(), 100)`, a defence against spam bots that talk
 * before the greeting, meant for servers facing the internet. Our
 * listeners face programs on this machine only (loopback, unix socket, the
 * sendmail -bs session), and most of those open one connection per message
 * (smtplib, PHPMailer, git send-email): the pause capped them at ~10
 * messages a second.
 *
 * (The same override also makes the replies to pipelined commands leave in
 * one write: coalesced-replies.ts.)
 *
 * The override is this one method. While upstream's connect() runs (it is
 * synchronous: it builds the connection and calls init()), the first timer
 * armed with exactly the early-talker delay runs its callback at once
 * instead. Everything else stays upstream's: the maxClients refusal (which
 * arms no timer), the socket listeners, connectionReady with onConnect and
 * onSecure. A client that talks before an asynchronous onConnect has
 * answered is still refused ("You talk too soon"), without any wait. The
 * patched setTimeout is put back before the callback runs and in every
 * case before connect() returns, so no other code ever sees it.
 *
 * If an upgrade changes how the pause is made, the greeting is merely late
 * again, never lost or doubled; test/frontends/listener-greeting.test.ts
 * fails then (the greeting must be written before connect() returns).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer } from 'smtp-server';
import { coalesceReplies } from './coalesced-replies.js';

/** smtp-server's fixed early-talker pause before the greeting (smtp-connection.js, init()). */
export const EARLY_TALKER_PAUSE_MS = 100;

type SetTimeout = typeof globalThis.setTimeout;

export class PromptGreetingSMTPServer extends SMTPServer {
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: Parameters<SMTPServer['connect']>[1]): void {
    const realSetTimeout = globalThis.setTimeout;
    const once = ((handler: unknown, delay?: number, ...args: unknown[]) => {
      globalThis.setTimeout = realSetTimeout;
      if (delay === EARLY_TALKER_PAUSE_MS && typeof handler === 'function') {
        handler(...args);
        // Upstream only unrefs the timer it armed: hand it one that never fires.
        const spent = realSetTimeout(() => {}, 0);
        clearTimeout(spent);
        return spent;
      }
      return (realSetTimeout as (...all: unknown[]) => ReturnType<SetTimeout>)(handler, delay, ...args);
    }) as SetTimeout;
    globalThis.setTimeout = once;
    // Pipelined commands' replies leave in one write (coalesced-replies.ts); before upstream pipes the socket.
    coalesceReplies(socket);
    try {
      super.connect(socket, socketOptions);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
  }
}
