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
 * Only a read that holds more than one line is corked: a client that waits
 * for each reply (smtplib, PHPMailer) sends one command per read, and its
 * one reply has nothing to be coalesced with, so it is written at once
 * rather than buffered behind the cork and released by a tick (docs/
 * performance.md, "The listener's CPU per message").
 *
 * Only the plain socket is corked; after STARTTLS the TLS layer reads it and
 * replies are written as upstream writes them. Never fails.
 */
import type { Duplex } from 'node:stream';

const LF = 0x0a;

/** True when a line end comes before the chunk's last byte: the read may carry several commands. */
export function holdsMoreThanOneLine(chunk: Buffer | string): boolean {
  const end = typeof chunk === 'string' ? chunk.indexOf('\n') : chunk.indexOf(LF);
  return end >= 0 && end < chunk.length - 1;
}

export function coalesceReplies(socket: Duplex): void {
  // Prepended: the cork must be in place before smtp-server's pipe hands the chunk to its parser.
  socket.prependListener('data', (chunk: Buffer | string) => {
    if (!holdsMoreThanOneLine(chunk)) return;
    socket.cork();
    process.nextTick(() => socket.uncork());
  });
}
