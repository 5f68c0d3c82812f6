/**
 * The one JSON record store: every small record the spool keeps beside the
 * entries is read and written here, and each store (account holds, learnt
 * figures, OAuth2 tokens, the send ledger's compaction, the last probe, the
 * flusher's records in spool/records/) keeps only its own validation and
 * meaning.
 *
 * Reading: opened with O_NOFOLLOW (a link in the file's place is refused
 * with ELOOP, never followed), parsed, then validated by the store. A
 * missing file, one that is not JSON, or one the store's validation refuses
 * reads as null ("no record"): records hold advice that can be learnt again
 * or, for a token, a login to redo, never mail, so a bad one is treated as
 * absent and replaced by the next write rather than quarantined.
 *
 * Writing: a new 0600 temp file in spool/tmp (its name carries our pid, so
 * repair never removes it under a live writer), renamed over the record.
 * A `durable` write fsyncs the file before the rename and the directory
 * after it (a reader sees the old record or the new one, never a torn one,
 * even after a power cut), creating the record's directory if needed. An
 * `advisory` write (the last probe) only renames: losing it costs nothing,
 * and it creates no directory (when the spool is not there, there is
 * nothing to advise).
 *
 * Failures: every file-system error (the refused link included) becomes one
 * sentence naming what was read or written, through fromFsError. The raw
 * helpers (readSpoolText, replaceSpoolFile) leave errors raw for stores that
 * name them in their own sentence (the send ledger).
 *
 * The records in spool/records/ (MX cache, destination health, MTA-STS
 * policies) are facts about the network: only the flusher (holding the
 * instance lock) writes them; status and doctor only read.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromFsError } from '../errors.js';
import { readWholeFileSync, removeIfExists, replaceFileDurable, writeAll } from './durable-fs.js';
import { recordPath, tmpPath, type RecordName, type Spool } from './paths.js';

export type { RecordName };
export { recordPath };

/** `durable`: fsync the file and its directory (holds, tokens, caps, records); `advisory`: rename only. */
type RecordDurability = 'durable' | 'advisory';

/** A store's check of a parsed record: the record, or null when it is not one. */
type RecordValidator<T> = (value: unknown) => T | null;

/** The text of a small spool file, or null when there is none. Never through a link (ELOOP). Errors are raw. */
export function readSpoolText(file: string): string | null {
  try {
    return readWholeFileSync(file).toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Replaces `file` with `data` through a 0600 temp file in spool/tmp, as
 * `durability` says (see the header). Errors are raw; the temp file never
 * outlives a failure.
 */
export async function replaceSpoolFile(spool: Spool, file: string, data: string, durability: RecordDurability = 'durable'): Promise<void> {
  const dir = path.dirname(file);
  // The temp name's id may hold no '.': repair reads the writer's pid after the first one.
  const temp = tmpPath(spool, path.basename(file).replaceAll('.', '_'), `${randomBytes(3).toString('hex')}.tmp`);
  if (durability === 'durable') {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    await replaceFileDurable(temp, file, dir, data);
    return;
  }
  try {
    const fd = fs.openSync(temp, 'wx', 0o600);
    try {
      writeAll(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    removeIfExists(temp);
    throw err;
  }
}

/**
 * The record at `file` as `validate` accepts it, or null when it is
 * missing, not JSON, or refused by `validate`. Any other failure (a link in
 * its place, EIO, EACCES) throws "cannot read <what>: ..." with its exit code.
 */
export function readJsonRecord<T>(file: string, what: string, validate: RecordValidator<T>): T | null {
  let text: string | null;
  try {
    text = readSpoolText(file);
  } catch (err) {
    throw fromFsError(`cannot read ${what}`, err);
  }
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return validate(value);
}

/** Replaces the record at `file` with `value` as one line of JSON, mode 0600; failures throw "cannot write <what>: ...". */
export async function writeJsonRecord(spool: Spool, file: string, value: unknown, what: string, durability: RecordDurability = 'durable'): Promise<void> {
  try {
    await replaceSpoolFile(spool, file, `${JSON.stringify(value)}\n`, durability);
  } catch (err) {
    throw fromFsError(`cannot write ${what}`, err);
  }
}

/** A spool/records/ record's parsed JSON (each reader checks its own shape), or null when absent or not JSON. */
export function readRecord(spool: Spool, name: RecordName): unknown {
  return readJsonRecord(recordPath(spool, name), `the ${name} record`, (value) => value);
}

/** Replaces a spool/records/ record durably. */
export async function writeRecord(spool: Spool, name: RecordName, value: unknown): Promise<void> {
  await writeJsonRecord(spool, recordPath(spool, name), value, `the ${name} record`);
}
