/**
 * Checks of single keys that JSON Schema cannot express: a cron
 * expression's fields (node-cron decides), a list of sending limits (the one
 * grammar in src/model/sending-limits.ts). `config set` runs them on
 * the key it writes, and the code that uses the key (the agent, for
 * `schedule`) runs the same function, so a value that would stop the agent
 * is refused when it is set (exit 78), not found at the next start.
 *
 * Kept out of the reader's path (src/config/store.ts): sendmail and flush
 * never pay for importing node-cron.
 */
import cron from 'node-cron';
import { configError } from '../errors.js';
import { parseLimits } from '../model/sending-limits.js';
import { checkEndpointUrl } from './endpoint-url.js';

export function checkSchedule(expression: string): void {
  const detail = cron.validateDetailed(expression);
  if (!detail.valid) {
    const why = detail.errors.map((e) => e.message).join('; ');
    throw configError(`schedule: "${expression}" is not a cron expression (${why}); example: "*/5 * * * *"`, 'E_CONFIG_SCHEDULE');
  }
}

/** Each accountReplies entry's regex must compile (the KIND: prefix is the schema's pattern). */
export function checkAccountReplies(entries: readonly string[]): void {
  entries.forEach((entry, i) => {
    try {
      new RegExp(entry.slice(entry.indexOf(':') + 1), 'is');
    } catch (err) {
      throw configError(`accountReplies[${i}]: not a regular expression: ${(err as Error).message}`, 'E_CONFIG_ACCOUNT_REPLIES');
    }
  });
}

const KEY_CHECKS: Record<string, (value: unknown) => void> = {
  schedule: (value) => checkSchedule(String(value)),
  limits: (value) => void parseLimits(String(value)),
  accountReplies: (value) => checkAccountReplies(value as string[]),
  'oauth2.tokenUrl': (value) => value === null || void checkEndpointUrl(String(value), 'oauth2.tokenUrl'),
  'oauth2.deviceAuthorizationUrl': (value) => value === null || void checkEndpointUrl(String(value), 'oauth2.deviceAuthorizationUrl'),
  'oauth2.authorizationUrl': (value) => value === null || void checkEndpointUrl(String(value), 'oauth2.authorizationUrl'),
};

/** Runs the check of `key`, if it has one; throws a config error (exit 78). */
export function checkConfigKey(key: string, value: unknown): void {
  // An account's key (accounts.NAME.KEY) has the check of the top-level KEY.
  (KEY_CHECKS[key] ?? KEY_CHECKS[key.replace(/^accounts\.[^.]+\./, '')])?.(value);
}
