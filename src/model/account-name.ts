/**
 * What an account name may be, checked once for every user: the config
 * schema's pattern for `accounts.<name>` (src/config/schema.ts), `account
 * add`/`remove`/`login` and the spool's per-account files (the OAuth2 token
 * store). A name becomes a file name in spool/accounts/ and a word in
 * routes, so it is lower-case letters, digits, '-' and '_' only: never a
 * path, a dot or a case that a case-insensitive file system would merge.
 *
 * Pure; a refused name throws a usage error (exit 64, E_ACCOUNT_NAME).
 */
import { usageError } from '../errors.js';

/** The JSON Schema pattern of an account name (the config validator is generated from it). */
export const ACCOUNT_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';

const ACCOUNT_NAME = new RegExp(ACCOUNT_NAME_PATTERN);

/** Throws unless `name` may name an account (the default account's name, "default", may). */
export function checkAccountName(name: string): void {
  if (!ACCOUNT_NAME.test(name)) {
    throw usageError(
      `"${name}" is not an account name: lower-case letters, digits, "-" and "_", at most 32, starting with a letter or digit ("default" is the top-level account)`,
      'E_ACCOUNT_NAME',
    );
  }
}
