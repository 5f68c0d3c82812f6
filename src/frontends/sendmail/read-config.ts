/**
 * The few config keys the sendmail command needs (`from`, the listener's
 * size limit for -bs), read with JSON.parse rather than through conf so that
 * a message costs no more start-up than it must. A missing config.json means
 * the defaults; broken JSON or a wrong type is E_CONFIG (exit 78).
 */
import fs from 'node:fs';
import path from 'node:path';
import { configError, fromFsError } from '../../errors.js';

export interface SendmailConfig {
  from: string | null;
  maxMessageSize: number;
}

const DEFAULT_MAX_MESSAGE_SIZE = 52_428_800;

export function readSendmailConfig(home: string): SendmailConfig {
  const file = path.join(home, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { from: null, maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE };
    throw fromFsError(`cannot read ${file}`, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw configError(`${file} is not valid JSON: ${(err as Error).message}`, 'E_CONFIG_SYNTAX', err);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw configError(`${file}: not a JSON object`);
  const config = raw as { from?: unknown; listener?: { maxMessageSize?: unknown } };
  const from = config.from ?? null;
  if (from !== null && (typeof from !== 'string' || !/^[^\s<>@]+@[^\s<>@]+$/.test(from))) {
    throw configError(`${file}: "from" must be an address like user@example.org`, 'E_CONFIG_INVALID');
  }
  const size = config.listener?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1024) {
    throw configError(`${file}: "listener.maxMessageSize" must be an integer of at least 1024`, 'E_CONFIG_INVALID');
  }
  return { from, maxMessageSize: size };
}
