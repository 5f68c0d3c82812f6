/**
 * Doctor: the spool exists, belongs to this user, is private (0700) and
 * writable, and has its directories; quarantined entries are pointed out.
 * Only looks: unlike openSpool, it creates and tightens nothing.
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import { spoolLayout } from '../spool/index.js';
import { fail, pass, warn, type CheckResult } from './check.js';
import { plural } from '../text.js';

export async function checkSpool(home: string): Promise<CheckResult[]> {
  const spool = spoolLayout(home);
  const title = 'spool present, private and yours';
  const stat = await fs.stat(spool.root).catch(() => null);
  if (stat === null || !stat.isDirectory()) {
    return [fail('spool', title, `${spool.root} does not exist`, 'run `bulkmailer status` once: it creates the spool (mode 0700)')];
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  if (uid !== null && stat.uid !== uid) {
    return [
      fail('spool', title, `${spool.root} belongs to uid ${stat.uid}, not to you (uid ${uid})`, `chown -R ${uid} ${home} (as its owner or root), or use a home of your own with --home`),
    ];
  }
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return [
      fail('spool', title, `${spool.root} has mode ${mode.toString(8).padStart(4, '0')}: others can read queued mail`, `chmod 700 ${spool.root}`),
    ];
  }
  try {
    await fs.access(spool.root, constants.W_OK | constants.X_OK);
  } catch {
    return [fail('spool', title, `${spool.root} is not writable`, `chmod u+rwx ${spool.root}`)];
  }
  const missing: string[] = [];
  for (const dir of [spool.tmp, spool.msg, spool.state, spool.lock, spool.corrupt]) {
    if (!(await fs.stat(dir).then((s) => s.isDirectory(), () => false))) missing.push(dir);
  }
  if (missing.length > 0) {
    return [fail('spool', title, `missing: ${missing.join(', ')}`, 'run `bulkmailer status` once: it recreates the spool directories')];
  }
  const results = [pass('spool', title, `${spool.root} (mode 0700, uid ${stat.uid})`)];
  const corrupt = (await fs.readdir(spool.corrupt).catch(() => [] as string[])).filter((n) => n.endsWith('.reason.txt'));
  if (corrupt.length > 0) {
    results.push(
      warn('spool.corrupt', 'no quarantined entries', `${plural(corrupt.length, 'entry', 'entries')} in ${spool.corrupt}`, `read the .reason.txt files in ${spool.corrupt}; re-send what matters, then remove them`),
    );
  }
  return results;
}
