/**
 * One write per batch of replies: a client that pipelines (nodemailer,
 * Postfix, list software: MAIL and every RCPT in one packet) gets its
 * replies in one TCP segment, not one segment and one write(2) each.
 *
 * smtp-server handles all the commands of one socket read synchronously
 * when their handlers answer at once (ours do for MAIL and RCPT) and
 * writes each reply with its own socket.write. Corking the socket before
 * the read reaches the parser, and uncorking on the next tick, hands those
 * writes to the kernel as one writev: with 5 recipients, 7 writes per
 * message become 2 (measured in docs/performance.md). Nothing waits longer
 * than the current tick, and a reply written later (the 250 after the
 * fsyncs) goes out at once as before.
 *
 * Only the plain socket is corked; after STARTTLS the TLS layer reads it and
 * replies are written as upstream writes them. Never fails.
 */
import type { Duplex } from 'node:stream';

export function coalesceReplies(socket: Duplex): void {
  // Prepended: the cork must be in place before smtp-server's pipe hands the chunk to its parser.
  socket.prependListener('data', () => {
    socket.cork();
    process.nextTick(() => socket.uncork());
  });
}
