/**
 * Connections at once, learnt from the smarthost: negative concurrency
 * feedback, as Postfix calls it. Pure: what a refusal means and what figure
 * to keep: the parsing of the `connections` kind of learnt figure
 * (learnt-figure.ts keeps the rest); the batch applies it
 * (src/delivery/deliver-batch.ts).
 *
 * Providers cap the connections one account may hold at once (Exchange
 * Online: three for SMTP AUTH, refusing a fourth with "432 4.3.2"; others
 * answer 421 at the greeting, or "too many connections"). When a session
 * is refused that way while other sessions of the account are open, the
 * provider has told us its figure: the number that were open. The account
 * uses that many for the rest of the flush and later flushes; nothing is
 * counted against the mail of the refused session (its recipients go to
 * the sessions that remain). A refusal that names the limit (Exchange
 * Online's 432 4.3.2, or words such as "too many connections") is the
 * provider's policy, and the figure is kept for later flushes until the
 * user changes the account's concurrency (or removes the account). A bare
 * 421 ("service not available") may just as well be a busy server or a
 * passing rate limit, so it lowers the figure for this flush only, as
 * Postfix's feedback, which lives in memory, would: a transient refusal
 * never caps the account for good.
 */

/**
 * Is this reply, to a connection being set up (greeting, EHLO, AUTH) or to
 * a session's first command, a refusal of one more connection? Any 421
 * ("service not available, closing channel", RFC 5321 4.2.3: the server
 * will not have this session), Exchange Online's 432 4.3.2, or a 4xx that
 * says too many connections or sessions.
 */
export function isTooManyConnections(reply: string): boolean {
  return /^421[ -]/.test(reply) || namesConnectionLimit(reply);
}

/** What providers say when one more connection is one too many. */
const TOO_MANY_WORDS = /too many ((concurrent|simultaneous|open|smtp) ){0,2}(connections|sessions)|connection limit|concurrent connections? limit/i;

/**
 * Does this refusal name a connection limit (432 4.3.2, or words that say
 * too many connections or sessions), so that the figure it teaches is the
 * provider's policy and worth keeping? A bare 421 does not. It is also the
 * test for a reply to a command of a transaction (MAIL FROM, RCPT TO,
 * DATA): Exchange Online refuses the mail of a mailbox's fourth connection
 * with "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
 * and a bare 421 there is an interrupted transaction, not a count.
 */
export function namesConnectionLimit(reply: string): boolean {
  return /^432[ -]4\.3\.2\b/.test(reply) || (/^4\d\d[ -]/.test(reply) && TOO_MANY_WORDS.test(reply));
}

/**
 * The figure after a refusal with `open` sessions of the account open:
 * that many, when it is lower than `current`; null when it teaches nothing
 * (no other session open: the refusal is about the server, not the count).
 */
export function lowerConnections(current: number, open: number): number | null {
  if (open < 1) return null;
  return open < current ? open : null;
}
