/**
 * The client's side of AUTH PLAIN (RFC 4616, with or without an initial
 * response) and AUTH LOGIN, read into a user name and a password, with
 * smtp-server's replies: 334 prompts, 501 for what cannot be read or a "*"
 * that cancels, 504 for another mechanism. Whether the credentials are
 * good is the caller's question (the intake asks its handlers). Pure;
 * never throws.
 */
import { CONTROL } from './command-syntax.js';
import type { IntakeReply } from './intake-server.js';

/** What the exchange needs next: a reply (and, with `next`, another line from the client), or the credentials. */
export type SaslStep =
  | { reply: IntakeReply; next?: (line: string) => SaslStep }
  | { username: string; password: string };

const ABORTED: SaslStep = { reply: { code: 501, text: 'Authentication aborted' } };
const INVALID: SaslStep = { reply: { code: 501, text: 'Error: invalid userdata' } };

function fromBase64(token: string): string {
  return Buffer.from(token, 'base64').toString('utf8');
}

function credentials(username: string, password: string): SaslStep {
  return CONTROL.test(username) ? INVALID : { username, password };
}

function plainToken(raw: string, canAbort: boolean): SaslStep {
  const token = raw.trim();
  if (canAbort && token === '*') return ABORTED;
  const parts = fromBase64(token).split('\x00');
  if (parts.length !== 3) return INVALID;
  // authzid NUL authcid NUL passwd; clients that leave authcid empty put the user in authzid.
  return credentials((parts[1] as string) || (parts[0] as string), parts[2] as string);
}

function loginUsername(raw: string, canAbort: boolean): SaslStep {
  const token = raw.trim();
  if (canAbort && token === '*') return ABORTED;
  const username = fromBase64(token);
  if (username === '') return { reply: { code: 501, text: 'Error: missing username' } };
  return {
    reply: { code: 334, text: 'UGFzc3dvcmQ6' }, // "Password:"
    next: (line) => (line.trim() === '*' ? ABORTED : credentials(username, fromBase64(line.trim()))),
  };
}

/** `AUTH <mechanism> [initial-response]`, the words after AUTH. */
export function startSasl(words: string[]): SaslStep {
  const method = (words[0] ?? '').toUpperCase();
  const args = words.slice(1);
  if (method === 'PLAIN') {
    if (args.length > 1) return { reply: { code: 501, text: 'Error: syntax: AUTH PLAIN token' } };
    if (args.length === 0) return { reply: { code: 334, text: '' }, next: (line) => plainToken(line, true) };
    return plainToken(args[0] as string, false);
  }
  if (method === 'LOGIN') {
    if (args.length > 1) return { reply: { code: 501, text: 'Error: syntax: AUTH LOGIN' } };
    if (args.length === 0) {
      return { reply: { code: 334, text: 'VXNlcm5hbWU6' }, next: (line) => loginUsername(line, true) }; // "Username:"
    }
    return loginUsername(args[0] as string, false);
  }
  return { reply: { code: 504, text: 'Error: Unrecognized authentication type' } };
}
