/**
 * The reviewed table of replies about the account (src/delivery/account-replies.ts):
 * real provider texts pause or hold the account; replies about one mailbox
 * never do; a MAIL FROM refusal (by nodemailer's `command`) holds, a size
 * refusal bounces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  findAccountRefusal,
  matchAccountReply,
  parseAccountReplyRule,
  parseAccountReplyRules,
} from '../../src/delivery/account-replies.js';
import { classifyFailure } from '../../src/delivery/classify-reply.js';
import type { RecipientOutcome } from '../../src/model/transitions.js';

const ACCOUNT_REPLIES: [string, string][] = [
  ['550 5.4.5 Daily user sending limit exceeded. For more information on Gmail sending limits go to https://support.google.com/a/answer/166852 - gsmtp', 'quota'],
  ['550-5.4.5 Daily user sending quota exceeded. a640c23a62f3a-abc - gsmtp', 'quota'],
  ['554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception', 'quota'],
  ["550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients", 'quota'],
  ['454 Throttling failure: Daily message quota exceeded.', 'quota'],
  ['454 Throttling failure: Maximum sending rate exceeded.', 'rate'],
  ['421 4.7.0 Try again later, closing connection. (MAIL) a1-20020a - gsmtp', 'throttle'],
  ['421 Too many concurrent SMTP connections; please try again later', 'throttle'],
  ['452 4.4.5 Messages per second limit exceeded', 'rate'],
  ['452 4.5.3 Daily message limit exceeded', 'quota'],
  ['550 5.4.5 <a@b.example>: Recipient address rejected: Domain Sending Quota Exceeded', 'quota'],
  ['554 5.7.1 <x@y.example>: Relay access denied (in reply to RCPT TO)', 'auth'],
  ['530 5.7.0 Authentication Required. Learn more at https://support.google.com/mail/?p=WantAuthError (in reply to MAIL FROM)', 'auth'],
  ['550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'sender'],
  ['554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: list@example.org', 'sender'],
];

const RECIPIENT_REPLIES = [
  '550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
  '452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp',
  '552 5.2.2 The email account that you tried to reach is over quota',
  '552 <JDOE@JUNO.COM>... Mail quota exceeded',
  '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.',
  '452 4.5.3 Too many recipients',
  '451 4.3.0 Temporary lookup failure',
  '421 Too many connections, try later',
  '550 5.7.1 Message rejected as spam by Content Filtering',
  'connection lost: Connection closed unexpectedly (possible duplicate)',
];

test('provider replies about the account are recognised, with their kind', () => {
  for (const [reply, kind] of ACCOUNT_REPLIES) {
    const rule = matchAccountReply(reply);
    assert.ok(rule !== null, `not recognised: ${reply}`);
    assert.equal(rule.kind, kind, reply);
    assert.ok(rule.source.length > 20, `rule ${rule.id} cites no source`);
  }
});

test('replies about one mailbox or address are never the account\'s', () => {
  for (const reply of RECIPIENT_REPLIES) assert.equal(matchAccountReply(reply), null, reply);
});

test('rules from the config come first, and a bad one is a config error', () => {
  const rule = parseAccountReplyRule('quota:^451 .*come back tomorrow', 0);
  assert.equal(matchAccountReply('451 4.3.0 come back tomorrow, dear', [rule])?.kind, 'quota');
  assert.equal(matchAccountReply('451 4.3.0 come back tomorrow, dear'), null);
  assert.throws(() => parseAccountReplyRules(['quota:(unclosed']), (err: Error & { exitCode?: number }) => err.exitCode === 78);
  assert.throws(() => parseAccountReplyRules(['sometimes:x']), /KIND:REGEX/);
});

function outcome(address: string, kind: RecipientOutcome['kind'], reply: string): RecipientOutcome {
  return { address, kind, reply };
}

test('a transaction: sent recipients and recipient refusals stand, the refused account leaves the rest pending', () => {
  const outcomes = [
    outcome('a@x.example', 'sent', '250 2.0.0 Ok'),
    outcome('b@x.example', 'failed', '550 5.1.1 <b@x.example>: User unknown (in reply to RCPT TO)'),
    outcome('c@x.example', 'failed', '550 5.4.5 Daily user sending limit exceeded (in reply to RCPT TO)'),
  ];
  const found = findAccountRefusal(outcomes);
  assert.ok(found !== null);
  assert.equal(found.refusal.kind, 'quota');
  assert.equal(found.refusal.rule, 'gmail-daily-limit');
  assert.deepEqual(found.standing.map((o) => o.address), ['a@x.example', 'b@x.example']);
  assert.equal(findAccountRefusal([outcomes[0]!, outcomes[1]!]), null);
});

/** The error nodemailer's SMTPConnection gives for a refused MAIL FROM (_actionMAIL: _formatError(..., 'EENVELOPE', reply, 'MAIL FROM')). */
function mailFromError(reply: string) {
  return { code: 'EENVELOPE', command: 'MAIL FROM', response: reply, responseCode: Number(reply.slice(0, 3)), message: `Mail command failed: ${reply}` };
}

test('MAIL FROM refused holds the account; a message too big for the smarthost still bounces', () => {
  const refusalOf = (reply: string) => findAccountRefusal(classifyFailure(['a@x.example', 'b@x.example'], mailFromError(reply), false));
  const refused = refusalOf('553 5.7.1 <list@example.org>: Sender address rejected: not owned by user list-owner');
  assert.equal(refused?.refusal.kind, 'sender');
  assert.equal(refused?.refusal.rule, 'mail-from-refused');
  assert.equal(refused?.standing.length, 0);
  assert.equal(refusalOf('552 5.3.4 Message size exceeds fixed limit'), null);
  assert.equal(refusalOf('451 4.3.0 Try later'), null);
});

test('a MAIL FROM refusal is known by the command nodemailer names, not by words in the reply', () => {
  // The outcome as classify-reply.ts keeps it: the command, whatever the text says.
  assert.equal(findAccountRefusal([{ address: 'a@x.example', kind: 'failed', reply: '550 5.7.1 sender rejected', command: 'MAIL FROM' }])?.refusal.kind, 'sender');
  // A refusal of the recipient whose text happens to end like ours is the recipient's.
  assert.equal(findAccountRefusal([{ address: 'a@x.example', kind: 'failed', reply: '550 5.1.1 no such user (in reply to MAIL FROM)', command: 'RCPT TO' }]), null);
});
