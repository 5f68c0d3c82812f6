/**
 * The bench scripts' command-line options, declared once per script and
 * parsed here (node:util parseArgs): numbers come back as numbers, checked
 * (a figure that is not a non-negative number is refused, not run as NaN),
 * booleans as flags, repeatable strings as lists; `--help` prints the
 * script's usage with every option's default and meaning.
 *
 * Fails by printing the reason and the usage on stderr and exiting 64
 * (EX_USAGE), before the script starts anything.
 */
import { parseArgs } from 'node:util';

interface NumberOption<D extends number | undefined = number | undefined> {
  kind: 'number';
  default: D;
  help: string;
}
interface FlagOption {
  kind: 'flag';
  help: string;
}
interface StringOption {
  kind: 'string';
  default: string;
  help: string;
}
interface ListOption {
  kind: 'list';
  help: string;
}
type BenchOption = NumberOption | FlagOption | StringOption | ListOption;

/** A number; without a default it is `undefined` when not given. */
export function num<D extends number | undefined>(defaultValue: D, help: string): NumberOption<D> {
  return { kind: 'number', default: defaultValue, help };
}
/** A boolean flag, off unless given. */
export function flag(help: string): FlagOption {
  return { kind: 'flag', help };
}
export function str(defaultValue: string, help: string): StringOption {
  return { kind: 'string', default: defaultValue, help };
}
/** A string that may be given several times (an empty list when never). */
export function list(help: string): ListOption {
  return { kind: 'list', help };
}

/** What the scripts that fill a spool and drain it share: same names, defaults and meanings. */
export const SPOOL_CONTENT = {
  recipients: num(5, 'recipients per message'),
  size: num(2000, 'message size in bytes'),
  concurrency: num(20, 'sessions'),
};

type ValueOf<O extends BenchOption> = O extends NumberOption<infer D>
  ? [D] extends [number]
    ? number
    : number | undefined
  : O extends FlagOption
    ? boolean
    : O extends ListOption
      ? string[]
      : string;

export type BenchArgs<S extends Record<string, BenchOption>> = { [K in keyof S]: ValueOf<S[K]> };

function usageText(usage: string, spec: Record<string, BenchOption>): string {
  const rows = Object.entries(spec).map(([name, option]) => {
    const left = option.kind === 'flag' ? `--${name}` : `--${name} ${option.kind === 'number' ? 'N' : 'VALUE'}`;
    const dflt = option.kind === 'number' || option.kind === 'string' ? (option.default === undefined ? '' : ` (default ${option.default})`) : '';
    return `  ${left.padEnd(22)} ${option.help}${dflt}`;
  });
  return `usage: ${usage}\n${rows.join('\n')}\n  --help                 this text\n`;
}

/** Parses process.argv (or `argv`) against `spec`; prints usage and exits on --help or a bad option. */
export function benchArgs<S extends Record<string, BenchOption>>(usage: string, spec: S, argv: string[] = process.argv.slice(2)): BenchArgs<S> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const [name, option] of Object.entries(spec)) {
    options[name] = option.kind === 'flag' ? { type: 'boolean' } : option.kind === 'list' ? { type: 'string', multiple: true } : { type: 'string' };
  }
  const refuse = (reason: string): never => {
    process.stderr.write(`${reason}\n${usageText(usage, spec)}`);
    process.exit(64);
  };
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (err) {
    return refuse((err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(usageText(usage, spec));
    process.exit(0);
  }
  const out: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec)) {
    const given = values[name];
    switch (option.kind) {
      case 'flag':
        out[name] = given === true;
        break;
      case 'list':
        out[name] = (given as string[] | undefined) ?? [];
        break;
      case 'string':
        out[name] = (given as string | undefined) ?? option.default;
        break;
      case 'number': {
        if (given === undefined) {
          out[name] = option.default;
          break;
        }
        const value = Number(given);
        if (given === '' || !Number.isFinite(value) || value < 0) refuse(`--${name} wants a non-negative number, not "${String(given)}"`);
        out[name] = value;
        break;
      }
    }
  }
  return out as BenchArgs<S>;
}
