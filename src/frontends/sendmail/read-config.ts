/**
 * The few config keys the sendmail command needs (`from`, the listener's
 * size limit for -bs). Read through the same loader as every command
 * (src/config/store.ts: JSON.parse and the validator compiled from the
 * schema, no conf or ajv at start-up), so a broken config.json is the same
 * E_CONFIG (exit 78) with the same message here as anywhere.
 */
import { loadStoredConfig } from '../../config/store.js';
import type { StoredConfig } from '../../config/schema.js';

export interface SendmailConfig {
  from: string | null;
  maxMessageSize: number;
}

export function readSendmailConfig(home: string): SendmailConfig {
  // One process per message: the spool open after this does not walk the home's directories again.
  return sendmailConfigOf(loadStoredConfig(home, { oneShot: true }));
}

export function sendmailConfigOf(config: StoredConfig): SendmailConfig {
  return { from: config.from, maxMessageSize: config.listener.maxMessageSize };
}
