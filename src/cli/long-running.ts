/**
 * The long-running commands (flush, agent, listen), their heap caps, and
 * capping the heap for one of them as the CLI starts: bin/bulkmailer
 * calls capHeapForCommandLine before it loads the rest of the CLI, whose
 * loading would otherwise grow V8's young generation past the cap first
 * (on Node 24 past 1 MiB; V8 does not shrink it again). Pure apart from
 * that call, which loads ./heap-cap.ts (node:v8, node:perf_hooks) only
 * for a long-running command: the short ones pay nothing. Called as
 * sendmail or mailq (through a symlink), the program is the sendmail
 * command and its arguments are sendmail's: there is no command word to
 * find in them (`sendmail -i listen` mails a local user named listen).
 */
import { personaCalledAs } from '../frontends/sendmail/persona.js';

const MIB = 1024 * 1024;

/**
 * The young generation's cap: the capacity of one semi-space, what
 * `--max-semi-space-size=4` would set (V8 reports the new space's size as
 * both semi-spaces together, and on Node 24 pages beyond them while a
 * scavenge runs; the capacity is what it uses plus what it has left).
 * Smaller costs CPU (more scavenges, more short-lived data promoted to the
 * old generation). With the headroom below, the cap costs a quiet
 * 20,000-entry flush ~9% of its CPU per message and ~6% of its rate, for
 * ~45 MiB less peak PSS (docs/performance.md, "The heap cap").
 */
export const SEMI_SPACE_CAP_BYTES = 4 * MIB;

/**
 * The long-running commands and their young generation's cap, set as the
 * CLI starts (capHeapForCommandLine, from bin/bulkmailer). `listen`'s
 * work is small messages arriving one by one: 2 MiB semi-spaces take ~2
 * MiB off its peak PSS over 300 messages (one or eight clients) against
 * 4, for no measurable CPU per message (docs/performance.md,
 * "`bulkmailer listen`'s start-up state"; issue 10's 60 MiB). Not 1 MiB:
 * on Node 24 the young generation is past 1 MiB before the entry's first
 * module has run, and V8 does not shrink it (test/cli/heap-cap.test.ts).
 */
export const YOUNG_GENERATION_CAPS = { flush: SEMI_SPACE_CAP_BYTES, agent: SEMI_SPACE_CAP_BYTES, listen: 2 * MIB } as const;
export type LongRunningCommand = keyof typeof YOUNG_GENERATION_CAPS;

/**
 * The long-running command a command line names, if any: its first word
 * that is not an option (skipping `--home`'s value, the program's one
 * global option with a value). `bulkmailer --home H listen` -> 'listen'.
 * None when the program was called as sendmail or mailq (`scriptPath`,
 * argv[1]; ../frontends/sendmail/persona.ts): those arguments are sendmail's.
 */
export function longRunningCommandOf(scriptPath: string | undefined, args: readonly string[]): LongRunningCommand | null {
  if (personaCalledAs(scriptPath) !== null) return null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--home') {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return Object.hasOwn(YOUNG_GENERATION_CAPS, arg) ? (arg as LongRunningCommand) : null;
  }
  return null;
}

/** Caps the heap for the long-running command a process's argv (process.argv) names, if it names one (./heap-cap.ts). */
export async function capHeapForCommandLine(argv: readonly string[]): Promise<void> {
  const command = longRunningCommandOf(argv[1], argv.slice(2));
  if (command === null) return;
  const { capHeap } = await import('./heap-cap.js');
  capHeap(YOUNG_GENERATION_CAPS[command]);
}
