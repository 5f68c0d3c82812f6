/**
 * Doctor: the spool exists, belongs to this user, is private (0700) and
 * writable, and has its directories; quarantined entries are pointed out.
 * A home where no spool was made yet (the README's first steps: config
 * set, then doctor) passes: the first enqueue or flush creates it, private;
 * only the home it will go into must be usable.
 * Only looks: unlike openSpool, it creates and tightens nothing.
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { inspectSpoolDirectories, listEntryIds, readEntryForScan, spoolLayout, type Spool } from '../spool/index.js';
import { fail, pass, warn, type CheckResult } from './check.js';
import { plural } from '../text.js';

export async function checkSpool(home: string): Promise<CheckResult[]> {
  const spool = spoolLayout(home);
  const title = 'spool present, private and yours';
  const stat = await fs.stat(spool.root).catch(() => null);
  if (stat === null) return [await checkFutureSpool(home, spool.root, title)];
  if (!stat.isDirectory()) return [fail('spool', title, `${spool.root} is not a directory`, `move ${spool.root} away; bulkmailer recreates it`)];
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
  // A symbolic link or another user's directory below spool/ is refused by every command (spool-dirs.ts).
  const wrong = inspectSpoolDirectories(spool);
  if (wrong.length > 0) {
    return [fail('spool', title, wrong.join('; '), 'replace each with a real directory of your own (mkdir -m 700), moving its files back in if they are yours')];
  }
  if (missing.length > 0) {
    return [fail('spool', title, `missing: ${missing.join(', ')}`, 'run `bulkmailer status` once: it recreates the spool directories')];
  }
  const results = [pass('spool', title, `${spool.root} (mode 0700, uid ${stat.uid})`), ...(await checkEntries(spool))];
  const corrupt = (await fs.readdir(spool.corrupt).catch(() => [] as string[])).filter((n) => n.endsWith('.reason.txt'));
  if (corrupt.length > 0) {
    results.push(
      warn('spool.corrupt', 'no quarantined entries', `${plural(corrupt.length, 'entry', 'entries')} in ${spool.corrupt}`, `read the .reason.txt files in ${spool.corrupt}; re-send what matters, then remove them`),
    );
  }
  return results;
}

/** No spool yet: fine when the nearest existing directory on the way to it is ours and writable. */
async function checkFutureSpool(home: string, root: string, title: string): Promise<CheckResult> {
  let dir = home;
  while ((await fs.stat(dir).catch(() => null)) === null && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    await fs.access(dir, constants.W_OK | constants.X_OK);
  } catch {
    return fail('spool', title, `${root} does not exist and ${dir} is not writable`, `use a home you can write: --home DIR or BULKMAILER_HOME`);
  }
  return pass('spool', title, `${root} not created yet: the first enqueue or flush creates it (mode 0700)`);
}

/**
 * Every entry readable and valid (reads each state file once, like status;
 * changes nothing). One that cannot be read (a permission, a directory or a
 * link in its place, EIO) fails: no flush will deliver it until you act. A
 * corrupt one warns: the next flush moves it to corrupt/.
 */
async function checkEntries(spool: Spool): Promise<CheckResult[]> {
  const title = 'every queued entry readable';
  const unreadable: string[] = [];
  const corrupt: string[] = [];
  let ids: string[];
  try {
    ids = await listEntryIds(spool); // not the entries a flush's journal records as finished (as status)
  } catch (err) {
    return [fail('spool.entries', title, `cannot list the queue: ${(err as Error).message}`, `check the permissions of ${spool.state}`)];
  }
  for (const id of ids) {
    try {
      await readEntryForScan(spool, id, {
        onCorrupt: (_, reason) => corrupt.push(reason),
        onUnreadable: (_, reason) => unreadable.push(reason),
      });
    } catch (err) {
      unreadable.push((err as Error).message);
    }
  }
  const results: CheckResult[] = [];
  if (unreadable.length > 0) {
    results.push(
      fail(
        'spool.entries',
        title,
        `${plural(unreadable.length, 'entry', 'entries')} cannot be read and will not be delivered: ${unreadable.join('; ')}`,
        `make each state and message file a regular file of yours, mode 600 (chown, chmod 600, or replace a link or directory with the file), then bulkmailer flush`,
      ),
    );
  }
  if (corrupt.length > 0) {
    results.push(
      warn(
        'spool.entries',
        'no corrupt entry queued',
        `${plural(corrupt.length, 'entry', 'entries')} corrupt: ${corrupt.join('; ')}`,
        `the next flush moves each to ${spool.corrupt} with a note (nothing is deleted); run bulkmailer flush, then read the .reason.txt files`,
      ),
    );
  }
  if (results.length === 0) results.push(pass('spool.entries', title, plural(ids.length, 'entry', 'entries')));
  return results;
}
