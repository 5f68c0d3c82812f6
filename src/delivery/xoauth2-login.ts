/**
 * AUTH XOAUTH2 on an open SMTP connection, with the access tokens of an
 * OAuth2 account (src/oauth2/access-tokens.ts). nodemailer speaks the SASL
 * mechanism, including its failure dance (a 334 carrying a base64 JSON
 * error, an empty line, then 535): given a token source through
 * XOAuth2's provisionCallback, it asks for a renewed token after that dance
 * and tries once more on the same connection. The token source behind it is
 * ours, so every session of the flush shares one refresh and the token
 * store (nodemailer's own refresh would refresh per session and keep the
 * tokens in memory only).
 *
 * A server that answers the first token with a plain 535/454 (no 334)
 * gives nodemailer no second chance: then, if that token came from the
 * store or memory (it may have been revoked or expired early), it is
 * renewed and E_TOKEN_STALE thrown, and the session opens a fresh
 * connection once (smtp-session.ts). A freshly refreshed token that is
 * refused is E_AUTH: the account is held. A token source that fails passes
 * its own error through: E_AUTH "needs `bulkmailer account login NAME`",
 * or E_UNREACHABLE for a token endpoint that is down.
 *
 * Tokens never reach a message: nodemailer logs nothing (no logger) and
 * the server's reply is all we quote.
 */
import XOAuth2 from 'nodemailer/lib/xoauth2';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { BulkmailerError, ExitCode } from '../errors.js';
import { tooManySessions } from './classify-reply.js';
import type { AccessToken, OAuth2Credentials } from '../oauth2/access-tokens.js';

export type { OAuth2Credentials } from '../oauth2/access-tokens.js';

interface SmtpFailure {
  code?: string;
  response?: string;
  responseCode?: number;
  message: string;
}

export function loginXOAuth2(
  connection: SMTPConnection,
  credentials: OAuth2Credentials,
  display: string,
  options: { renewOnPlainRefusal: boolean },
): Promise<void> {
  let given: AccessToken | null = null;
  let tokenError: unknown = null;
  const oauth2 = new XOAuth2({
    user: credentials.user,
    provisionCallback: (_user, renew, callback) => {
      const stale = given;
      const next: Promise<AccessToken> =
        renew && stale !== null
          ? stale.refreshed
            ? Promise.reject(refused(display, credentials.user, 'the smarthost refused a freshly refreshed access token'))
            : credentials.tokens.renew(stale.token).then((token) => ({ token, refreshed: true }))
          : credentials.tokens.current();
      next.then(
        (token) => {
          given = token;
          callback(null, token.token);
        },
        (err: unknown) => {
          tokenError = err;
          // nodemailer rewrites the code of the error it is given (EAUTH): it gets a stand-in, ours stays intact.
          callback(new Error('no access token'));
        },
      );
    },
  });
  return new Promise<void>((resolve, reject) => {
    connection.login({ type: 'OAuth2', user: credentials.user, oauth2 }, (err) => {
      if (!err) return resolve();
      if (tokenError !== null) return reject(tokenError);
      const failure = err as SmtpFailure;
      const reply = failure.response ?? failure.message;
      // One connection too many (421, 432 4.3.2): about the count, not the token.
      const crowded = tooManySessions(display, err);
      if (crowded !== null) return reject(crowded);
      if (!failure.responseCode && failure.code !== 'EAUTH') {
        return reject(new BulkmailerError('E_UNREACHABLE', `cannot open a session with ${display}: ${reply}`, { exitCode: ExitCode.tempFail, cause: err }));
      }
      const used = given as AccessToken | null;
      if (used !== null && !used.refreshed && options.renewOnPlainRefusal) {
        // Refused without the 334 dance: renew now (shared with the other sessions), reconnect once.
        credentials.tokens.renew(used.token).then(
          () => reject(new BulkmailerError('E_TOKEN_STALE', `${display} refused the stored access token: ${reply}`, { exitCode: ExitCode.tempFail })),
          reject,
        );
        return;
      }
      reject(refused(display, credentials.user, reply));
    });
  });
}

function refused(display: string, user: string, reply: string): BulkmailerError {
  return new BulkmailerError('E_AUTH', `${display} refused XOAUTH2 authentication as ${user}: ${reply}`, {
    exitCode: ExitCode.noPerm,
    temporary: false,
  });
}
