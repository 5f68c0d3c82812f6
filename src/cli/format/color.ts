/**
 * Terminal colour, only where it helps and only where it is wanted: the
 * caller decides (CommandContext.color is true only on a TTY without
 * NO_COLOR and with a TERM other than dumb). With colour off every
 * function returns its text unchanged, so output piped to a file or a
 * script never carries escape codes.
 */

export interface Palette {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const wrap = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

const ON: Palette = {
  bold: wrap(1, 22),
  dim: wrap(2, 22),
  red: wrap(31, 39),
  green: wrap(32, 39),
  yellow: wrap(33, 39),
  cyan: wrap(36, 39),
};

const same = (text: string) => text;
const OFF: Palette = { bold: same, dim: same, red: same, green: same, yellow: same, cyan: same };

export function palette(enabled: boolean): Palette {
  return enabled ? ON : OFF;
}

/** Removes ANSI escape sequences (for width computations). */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
