/**
 * This installation's version, from package.json (one level above src/ and
 * dist/ alike), for `bulkmailer --version` and `bulkmailer-sendmail
 * --version`. "unknown" when package.json cannot be read (never throws).
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
