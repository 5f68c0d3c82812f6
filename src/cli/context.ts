/**
 * What every CLI command gets: the resolved home, where to write, and
 * whether a human is watching (colour, progress bars, prompts).
 */
import { resolveHome } from '../config/home.js';

export interface CommandContext {
  home: string;
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Colour is allowed: stdout is a terminal and NO_COLOR is not set. */
  color: boolean;
}

export function createContext(homeFlag: string | undefined): CommandContext {
  const stdout = process.stdout;
  return {
    home: resolveHome(homeFlag),
    stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    color: Boolean(stdout.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb',
  };
}

/** A command's result: the process exit code (0 when omitted). */
export type CommandResult = number | void;
