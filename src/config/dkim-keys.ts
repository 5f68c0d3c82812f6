/**
 * DKIM keys from `dkim.<name>.{domain,selector,keyFile}`: one per sender
 * domain, read and checked when the config is loaded, so a missing or
 * broken key file is a config error (exit 78) naming the key, not a
 * failure in the middle of a flush. An entry missing any of its three
 * keys is an error too: half a DKIM setup would silently send unsigned.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { configError } from '../errors.js';
import type { StoredConfig } from './schema.js';

export interface DkimKey {
  domain: string;
  selector: string;
  /** PEM. A secret: never logged. */
  privateKey: string;
}

export function loadDkimKeys(stored: StoredConfig['dkim']): DkimKey[] {
  const keys: DkimKey[] = [];
  for (const [name, entry] of Object.entries(stored)) {
    const missing = (['domain', 'selector', 'keyFile'] as const).filter((k) => entry[k] === null || entry[k] === '');
    if (missing.length > 0) {
      throw configError(`dkim.${name}: ${missing.map((k) => `dkim.${name}.${k}`).join(', ')} not set`);
    }
    let privateKey: string;
    try {
      privateKey = fs.readFileSync(entry.keyFile!, 'utf8');
      crypto.createPrivateKey(privateKey);
    } catch (err) {
      throw configError(`dkim.${name}.keyFile: ${entry.keyFile} is not a readable PEM private key: ${(err as Error).message}`, 'E_CONFIG', err);
    }
    keys.push({ domain: entry.domain!.toLowerCase(), selector: entry.selector!, privateKey });
  }
  return keys;
}
