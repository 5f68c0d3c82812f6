/**
 * Doctor: config.json parses, passes the schema and the runtime checks,
 * names a smarthost, and sets the sender address (`from`: without it mail
 * leaves as login@hostname, e.g. root@laptop, without a word). Returns the
 * runtime config for the later checks (null when it cannot be loaded: they
 * are then skipped).
 */
import { existsSync } from 'node:fs';
import { loadRuntimeConfig, type RuntimeConfig } from '../config/runtime.js';
import { configPath } from '../config/store.js';
import { redactUrl } from '../config/smarthost.js';
import { usesTransport } from '../config/routes.js';
import { fail, pass, warn, type CheckResult } from './check.js';

export function checkConfig(home: string): { results: CheckResult[]; config: RuntimeConfig | null } {
  const file = configPath(home);
  let config: RuntimeConfig;
  try {
    config = loadRuntimeConfig(home);
  } catch (err) {
    const message = redactUrl(err instanceof Error ? err.message : String(err));
    return {
      results: [
        fail('config', 'config valid', message, `fix the key named above with \`bulkmailer config set KEY VALUE\` (or edit ${file}); \`bulkmailer config list\` shows every key`),
      ],
      config: null,
    };
  }
  const results = [pass('config', 'config valid', existsSync(file) ? file : `${file} (absent: all defaults)`)];
  if (config.smarthosts.length === 0 && !usesTransport(config.routes, 'smarthost')) {
    results.push(pass('config.smarthost', 'smarthost configured', 'none needed: routes deliver everything directly (mx)'));
  } else if (config.smarthosts.length === 0) {
    results.push(
      fail(
        'config.smarthost',
        'smarthost configured',
        'no smarthost is set: nothing can be delivered',
        'bulkmailer config set smarthost smtp://USER@mail.example.net:587 (or smtps://...:465)',
      ),
    );
  } else {
    results.push(pass('config.smarthost', 'smarthost configured', config.smarthosts.map((s) => s.display).join(', ')));
  }
  if (config.stored.from === null) {
    results.push(
      warn(
        'config.from',
        'sender address set',
        'from is not set: mail queued without -f goes out as login@hostname (root@laptop), which smarthosts usually refuse',
        'bulkmailer config set from you@example.net',
      ),
    );
  } else {
    results.push(pass('config.from', 'sender address set', config.stored.from));
  }
  return { results, config };
}
