/**
 * Replies about the account, not the recipient: the reviewed table. Pure.
 *
 * A smarthost that says "this account may not send now" (quota, rate,
 * "try again later") or "not as this sender" must not be read as a verdict
 * on each recipient: that turned a Gmail daily limit into 30 bounces that
 * unsubscribe innocent list members (issue 8). A reply that matches here
 * pauses or holds the account (src/model/account-hold.ts) and leaves every
 * recipient pending, with no attempt counted.
 *
 * The table is ordered; the first matching rule wins. Each rule cites where
 * its reply text comes from (checked 2026-11-30). Users add rules with
 * `accountReplies` ("KIND:REGEX", tried before the built-in ones).
 *
 * Replies about one mailbox are never account replies, even with "quota" or
 * "rate" in them: X.2.x enhanced codes (mailbox full 4.2.2/5.2.2, Gmail's
 * "receiving mail at a rate" 4.2.1) and X.1.x (bad address) are excluded
 * before any rule is tried, so a full mailbox stays that recipient's
 * problem.
 */
import type { HoldKind } from '../model/account-hold.js';
import { configError } from '../errors.js';
import type { RecipientOutcome } from '../model/transitions.js';

export interface AccountReplyRule {
  id: string;
  kind: HoldKind;
  /** Tested against the whole reply ("550-5.4.5 Daily user sending limit exceeded. ..."). */
  pattern: RegExp;
  source: string;
  /**
   * Matches by wording, not a provider's exact text: tried only after the
   * mailbox exclusions below. Exact provider texts are tried before them
   * (Microsoft's quota reply carries 5.2.0, an X.2.x code).
   */
  generic?: boolean;
}

export const ACCOUNT_REPLY_RULES: readonly AccountReplyRule[] = [
  {
    id: 'gmail-daily-limit',
    kind: 'quota',
    // "550 5.4.5 Daily user sending limit exceeded." / "550-5.4.5 Daily user sending quota exceeded."
    pattern: /^5\d\d[ -]5\.4\.5\b.*(sending|daily|quota|limit)/is,
    source: 'Google: "Gmail sending limits" (support.google.com/mail/answer/22839) and the SMTP error reference (support.google.com/a/answer/3726730): 550 5.4.5 Daily user sending limit exceeded',
  },
  {
    id: 'microsoft-submission-quota',
    kind: 'quota',
    // "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"
    pattern: /SubmissionQuotaExceeded/i,
    source: 'Microsoft Learn: "Fix sender\'s submission quota exceeded errors in Exchange Online" and "SMTP AUTH client submission" limits (30 messages/minute, 10,000 recipients/day): 554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException',
  },
  {
    id: 'microsoft-recipient-limit',
    kind: 'quota',
    // Outlook.com: "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients"; 5.1.92 is the newer NDR code.
    pattern: /^5\d\d[ -]5\.1\.9[02]\b/,
    source: 'Microsoft: Outlook.com NDR 5.1.90 (daily recipient limit reached) and MicrosoftDocs/OfficeDocs-Exchange#2431 (NDR code 5.1.92 for the 24-hour sending limit)',
  },
  {
    id: 'ses-daily-quota',
    kind: 'quota',
    pattern: /^454[ -].*Daily message quota exceeded/is,
    source: 'Amazon SES Developer Guide, "Errors related to the sending quotas": 454 Throttling failure: Daily message quota exceeded',
  },
  {
    id: 'ses-rate',
    kind: 'rate',
    pattern: /^454[ -].*Maximum sending rate exceeded/is,
    source: 'Amazon SES Developer Guide, "Errors related to the sending quotas": 454 Throttling failure: Maximum sending rate exceeded (wait up to 10 minutes, then retry)',
  },
  {
    id: 'relay-denied',
    kind: 'auth',
    // Postfix "554 5.7.1 <x>: Relay access denied", Exim "550 relay not permitted", Exchange "550 5.7.54 Unable to relay".
    pattern: /^5\d\d[ -].*(relay access denied|relaying denied|relay not permitted|unable to relay|not permitted to relay)/is,
    source: 'Postfix smtpd (reject_unauth_destination: "Relay access denied"), Exim ("relay not permitted"), Exchange Online NDR 5.7.54 ("Unable to relay"): the smarthost does not relay for an unauthenticated client',
    generic: true,
  },
  {
    id: 'auth-required',
    kind: 'auth',
    // "530 5.7.0 Authentication required" (Gmail, Postfix), "530 5.7.57 Client not authenticated to send mail" (Microsoft).
    pattern: /^530[ -]|^5\d\d[ -]5\.7\.(0|57)\b.*authenticat/is,
    source: 'RFC 4954 section 6 (530 5.7.0 Authentication required); Microsoft Learn NDR 5.7.57 (Client not authenticated to send mail)',
  },
  {
    id: 'ses-not-verified',
    kind: 'sender',
    // "554 Message rejected: Email address is not verified. The following identities failed the check in region ..."
    pattern: /^554[ -].*Email address is not verified/is,
    source: 'Amazon SES Developer Guide, "Amazon SES SMTP issues" and the sandbox: sender (and, in the sandbox, recipient) identities must be verified',
  },
  {
    id: 'microsoft-send-as',
    kind: 'sender',
    // "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
    pattern: /^5\d\d[ -]5\.7\.60\b/,
    source: 'Microsoft Learn NDR 5.7.60 (Client does not have permissions to send as this sender)',
  },
  {
    id: 'throttle-421',
    kind: 'throttle',
    // Gmail "421 4.7.0 Try again later, closing connection."; "421 Rate limited, try again later"; "421 Too many messages".
    // Not "421 Too many connections" alone: that is about this connection (the others carry on), so it
    // stays an interrupted transaction, due again at once.
    pattern: /^421[ -].*(try again later|too many (messages|mails|e-?mails)|rate limit|throttl)/is,
    source: 'Google SMTP error reference (support.google.com/a/answer/3726730): 421 4.7.0 Try again later, closing connection; RFC 5321 section 4.2.3 (421: service not available, closing channel)',
    generic: true,
  },
  {
    id: 'rate-wording',
    kind: 'rate',
    // Enhanced 4.7.x/5.7.x or 4.4.x with rate wording: "452 4.4.5 Messages per second limit exceeded", "451 4.7.1 rate limit exceeded".
    pattern: /^[45]\d\d[ -][45]\.[47]\.\d+\b.*(per (second|minute)|rate limit|sending rate|message rate|throttl)/is,
    source: 'RFC 3463 (X.7.x security or policy, X.4.5 mail system congestion) with the wording of Emailit ("452 4.4.5 Messages per second limit exceeded"), Mailgun and Microsoft ("message rate limit") replies',
    generic: true,
  },
  {
    id: 'quota-wording',
    kind: 'quota',
    // "550 5.7.1 Daily sending quota exceeded", "451 4.7.1 Sending quota exceeded", "452 4.5.3 Daily message limit exceeded".
    pattern: /^[45]\d\d[ -].*((daily|hourly|sending|message|outbound|submission)[ -](limit|quota)|(limit|quota) (exceeded|reached)).*$/is,
    source: 'wording shared by Gmail, SES, Microsoft, Emailit ("452 4.5.3 Daily message limit exceeded") and hosting smarthosts ("550 5.4.5 Domain Sending Quota Exceeded")',
    generic: true,
  },
];

/** A rule from the config: "KIND:REGEX" (the regex is case-insensitive). */
export function parseAccountReplyRule(text: string, index: number): AccountReplyRule {
  const match = /^(quota|rate|throttle|auth|sender):(.+)$/s.exec(text);
  if (match === null) {
    throw new Error(`accountReplies[${index}]: expected KIND:REGEX with KIND one of quota, rate, throttle, auth, sender`);
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(match[2]!, 'is');
  } catch (err) {
    throw new Error(`accountReplies[${index}]: ${(err as Error).message}`);
  }
  return { id: `config-${index}`, kind: match[1] as HoldKind, pattern, source: 'config: accountReplies' };
}

/** The config's `accountReplies`, parsed; a bad one is a config error (78). */
export function parseAccountReplyRules(texts: readonly string[]): AccountReplyRule[] {
  return texts.map((text, i) => {
    try {
      return parseAccountReplyRule(text, i);
    } catch (err) {
      throw configError((err as Error).message);
    }
  });
}

/** Enhanced status codes about one mailbox or address (RFC 3463 X.1.x, X.2.x): never the account's. */
const MAILBOX_STATUS = /^\d{3}[ -][45]\.[12]\.\d+\b/;

/** "552 Mail quota exceeded", "over quota", "mailbox full": the recipient's storage, not our sending. */
const MAILBOX_WORDING = /mailbox|storage|over ?quota|mail quota|disk quota|(is|was) full|receiving mail/i;

export interface AccountRefusal {
  kind: HoldKind;
  reply: string;
  rule: string | null;
  /** When the hold lifts, if the refusal knows (a sending limit's window); else by kind (config `pauses`). */
  until?: number;
}

/** The account rule a reply matches, or null when it is about the recipient. */
export function matchAccountReply(reply: string, extra: readonly AccountReplyRule[] = []): AccountReplyRule | null {
  if (!/^\d{3}[ -]/.test(reply)) return null; // "connection lost: ...": no reply, not a refusal
  // The user's own rules first: whoever writes one has seen the reply.
  for (const rule of extra) if (rule.pattern.test(reply)) return rule;
  for (const rule of ACCOUNT_REPLY_RULES) if (!rule.generic && rule.pattern.test(reply)) return rule;
  if (MAILBOX_STATUS.test(reply) || MAILBOX_WORDING.test(reply)) return null;
  for (const rule of ACCOUNT_REPLY_RULES) if (rule.generic && rule.pattern.test(reply)) return rule;
  return null;
}

/**
 * A 5xx to MAIL FROM is about the sender, not the recipients: hold the
 * account rather than bounce every recipient. Except a message too big for
 * the smarthost (552, X.3.4), which is about this message and bounces.
 * The command is the one nodemailer's error names (`command`, kept on the
 * outcome by classify-reply.ts), not words in the reply.
 */
function isSenderRefusal(outcome: RecipientOutcome): boolean {
  const reply = outcome.reply;
  if (outcome.command !== 'MAIL FROM' || !/^5\d\d[ -]/.test(reply)) return false;
  return !/^552[ -]/.test(reply) && !/^5\d\d[ -]5\.3\.4\b/.test(reply);
}

/**
 * Whether a transaction's outcomes say the account was refused. Returns the
 * refusal and the outcomes that still stand (sent recipients, and
 * refusals really about one recipient); the rest stay pending, uncounted.
 */
export function findAccountRefusal(
  outcomes: readonly RecipientOutcome[],
  extra: readonly AccountReplyRule[] = [],
): { refusal: AccountRefusal; standing: RecipientOutcome[] } | null {
  let refusal: AccountRefusal | null = null;
  const standing: RecipientOutcome[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind === 'sent') {
      standing.push(outcome);
      continue;
    }
    const rule = matchAccountReply(outcome.reply, extra);
    if (rule !== null) {
      refusal ??= { kind: rule.kind, reply: outcome.reply, rule: rule.id };
    } else if (isSenderRefusal(outcome)) {
      refusal ??= { kind: 'sender', reply: outcome.reply, rule: 'mail-from-refused' };
    } else {
      standing.push(outcome);
    }
  }
  return refusal === null ? null : { refusal, standing };
}
