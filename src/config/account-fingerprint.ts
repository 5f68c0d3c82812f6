/**
 * An account's fingerprint: a short hash of the settings that decide whether
 * a connection can succeed (smarthost URLs, credentials and their sources,
 * OAuth2 client and endpoints, TLS). A hold that needs the user (refused
 * AUTH, failed TLS, a name that does not resolve) lifts as soon as the
 * fingerprint changes: fixing the config is enough, no `retry --all` needed. Only the hash is stored, never
 * the settings (the hash of a password is not the password, and it stays
 * in the private spool).
 */
import { createHash } from 'node:crypto';
import type { StoredAccountSettings } from './accounts.js';

export function accountFingerprint(stored: Pick<StoredAccountSettings, 'smarthost' | 'fallbackSmarthosts' | 'auth' | 'oauth2' | 'tls'>): string {
  const relevant = {
    smarthost: stored.smarthost,
    fallbackSmarthosts: stored.fallbackSmarthosts,
    auth: stored.auth,
    oauth2: stored.oauth2,
    tls: stored.tls,
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}
