/**
 * `bulkmailer completion bash|zsh|fish`: a completion script built from the
 * commander command tree (the same tree as --help and the man page), so a
 * new command or option completes without anyone editing a script. Word
 * lists: subcommands, each command's options, the choices of arguments and
 * options (autostart's actions, --kind), config keys for a `<key>`
 * argument, directories after --home, files after --file. Pure: returns
 * the script text.
 */
import type { Command, Option } from 'commander';
import { CONFIG_KEYS } from '../config/schema.js';
import type { Shell } from './shells.js';

interface OptionSpec {
  long: string;
  short: string | null;
  description: string;
  /** Values it takes: null for a flag; [] for a free value. */
  values: string[] | null;
  kind: 'dir' | 'file' | 'word';
}

interface CommandSpec {
  name: string;
  description: string;
  options: OptionSpec[];
  /** Words for the first positional argument (choices, config keys), if any are known. */
  arguments: string[];
  subcommands: CommandSpec[];
}

function optionSpec(option: Option): OptionSpec {
  const takesValue = option.required || option.optional;
  const long = option.long ?? option.short ?? '';
  return {
    long,
    short: option.long ? (option.short ?? null) : null,
    description: option.description,
    values: takesValue ? [...(option.argChoices ?? [])] : null,
    kind: long === '--home' ? 'dir' : long === '--file' ? 'file' : 'word',
  };
}

const HELP: OptionSpec = { long: '--help', short: '-h', description: 'display help for command', values: null, kind: 'word' };

export function commandSpec(command: Command): CommandSpec {
  const first = command.registeredArguments[0];
  const args = first === undefined ? [] : first.argChoices ? [...first.argChoices] : first.name() === 'key' ? CONFIG_KEYS.map((k) => k.key) : [];
  return {
    name: command.name(),
    description: command.description(),
    options: [...command.options.map(optionSpec), HELP],
    arguments: args,
    subcommands: command.commands.filter((c) => c.name() !== 'help').map(commandSpec),
  };
}

export function completionScript(program: Command, shell: Shell): string {
  const tree = commandSpec(program);
  switch (shell) {
    case 'bash':
      return bashScript(tree);
    case 'zsh':
      return zshScript(tree);
    case 'fish':
      return fishScript(tree);
  }
}

const words = (list: readonly string[]) => list.join(' ');
const flags = (c: CommandSpec) => c.options.flatMap((o) => (o.short ? [o.long, o.short] : [o.long]));

function bashScript(tree: CommandSpec): string {
  const root = tree.name;
  const valueOptions = [...new Set([tree, ...tree.subcommands, ...tree.subcommands.flatMap((s) => s.subcommands)].flatMap((c) => c.options.filter((o) => o.values !== null)))];
  const valueCase = valueOptions.map((o) => {
    const names = o.short ? `${o.long}|${o.short}` : o.long;
    const reply = o.kind === 'dir' ? 'compgen -d -- "$cur"' : o.kind === 'file' ? 'compgen -f -- "$cur"' : `compgen -W "${words(o.values ?? [])}" -- "$cur"`;
    return `    ${names}) COMPREPLY=( $(${reply}) ); return ;;`;
  });
  const commandCase = tree.subcommands.map((c) => {
    if (c.subcommands.length === 0) return `    ${c.name}) list="${words([...c.arguments, ...flags(c)])}" ;;`;
    const inner = c.subcommands.map((s) => `        ${s.name}) list="${words([...s.arguments, ...flags(s)])}" ;;`);
    return [`    ${c.name})`, '      case "$sub" in', `        "") list="${words([...c.subcommands.map((s) => s.name), ...flags(c)])}" ;;`, ...inner, '      esac ;;'].join('\n');
  });
  return `# bash completion for ${root}, generated from its command tree by \`${root} completion bash\`.
# Load it with: source <(${root} completion bash)
_${root}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmd="" sub="" list="" i
  case "$prev" in
${[...new Set(valueCase)].join('\n')}
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --home) ((i++)) ;;
      -*) ;;
      *) if [[ -z $cmd ]]; then cmd="\${COMP_WORDS[i]}"; elif [[ -z $sub ]]; then sub="\${COMP_WORDS[i]}"; fi ;;
    esac
  done
  case "$cmd" in
    "") list="${words([...tree.subcommands.map((c) => c.name), ...flags(tree)])}" ;;
${commandCase.join('\n')}
  esac
  COMPREPLY=( $(compgen -W "$list" -- "$cur") )
}
complete -F _${root} ${root}
`;
}

const zshQuote = (text: string) => text.replace(/'/g, `'\\''`).replace(/[[\]:]/g, (c) => `\\${c}`);

function zshOptions(c: CommandSpec): string {
  return c.options
    .map((o) => {
      const names = o.short ? `{${o.short},${o.long}}` : o.long;
      const exclusive = o.short ? `'(${o.short} ${o.long})'` : '';
      const value = o.values === null ? '' : o.kind === 'dir' ? ':dir:_files -/' : o.kind === 'file' ? ':file:_files' : o.values.length > 0 ? `:value:(${words(o.values)})` : ':value:';
      return `${exclusive}${names}'[${zshQuote(o.description)}]${value}'`;
    })
    .join(' ');
}

function zshDescribe(list: CommandSpec[]): string {
  return list.map((c) => `'${zshQuote(c.name)}:${zshQuote(c.description)}'`).join(' ');
}

function zshScript(tree: CommandSpec): string {
  const root = tree.name;
  const cases = tree.subcommands.map((c) => {
    if (c.subcommands.length === 0) {
      const arg = c.arguments.length > 0 ? ` '1:argument:(${words(c.arguments)})'` : '';
      return `      ${c.name}) _arguments ${zshOptions(c)}${arg} ;;`;
    }
    const inner = c.subcommands.map((s) => {
      const arg = s.arguments.length > 0 ? ` '1:argument:(${words(s.arguments)})'` : '';
      return `            ${s.name}) _arguments ${zshOptions(s)}${arg} ;;`;
    });
    return [
      `      ${c.name})`,
      `        local -a subs; subs=(${zshDescribe(c.subcommands)})`,
      `        if (( CURRENT == 2 )); then _describe 'subcommand' subs; else`,
      '          words=("\${(@)words[2,-1]}"); (( CURRENT-- ))',
      '          case $words[1] in',
      ...inner,
      '          esac',
      '        fi ;;',
    ].join('\n');
  });
  return `#compdef ${root}
# zsh completion for ${root}, generated from its command tree by \`${root} completion zsh\`.
# Put it in a directory of $fpath as _${root}, or: source <(${root} completion zsh)
_${root}() {
  local curcontext="$curcontext" state line
  local -a commands; commands=(${zshDescribe(tree.subcommands)})
  _arguments -C ${zshOptions(tree)} '1: :->command' '*:: :->args'
  case $state in
    command) _describe 'command' commands ;;
    args)
      case $line[1] in
${cases.join('\n')}
      esac ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _${root} "$@"; else compdef _${root} ${root}; fi
`;
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishOptions(root: string, condition: string, c: CommandSpec): string[] {
  return c.options.map((o) => {
    const parts = [`complete -c ${root} -n ${fishQuote(condition)}`, `-l ${o.long.replace(/^--/, '')}`];
    if (o.short) parts.push(`-s ${o.short.replace(/^-/, '')}`);
    if (o.values !== null) parts.push(o.kind === 'dir' ? "-r -a '(__fish_complete_directories)'" : o.kind === 'file' ? '-r -F' : `-x -a ${fishQuote(words(o.values))}`);
    parts.push(`-d ${fishQuote(o.description)}`);
    return parts.join(' ');
  });
}

function fishScript(tree: CommandSpec): string {
  const root = tree.name;
  const all = words(tree.subcommands.map((c) => c.name));
  const lines = [
    `# fish completion for ${root}, generated from its command tree by \`${root} completion fish\`.`,
    `# Save it as ~/.config/fish/completions/${root}.fish, or: ${root} completion fish | source`,
    `complete -c ${root} -f`,
    ...fishOptions(root, '__fish_use_subcommand', tree),
  ];
  for (const c of tree.subcommands) {
    lines.push(`complete -c ${root} -n '__fish_use_subcommand' -a ${c.name} -d ${fishQuote(c.description)}`);
    const inCommand = `__fish_seen_subcommand_from ${c.name}`;
    lines.push(...fishOptions(root, inCommand, c));
    if (c.arguments.length > 0) lines.push(`complete -c ${root} -n ${fishQuote(inCommand)} -a ${fishQuote(words(c.arguments))}`);
    if (c.subcommands.length > 0) {
      const subs = words(c.subcommands.map((s) => s.name));
      for (const s of c.subcommands) {
        lines.push(`complete -c ${root} -n ${fishQuote(`${inCommand}; and not __fish_seen_subcommand_from ${subs}`)} -a ${s.name} -d ${fishQuote(s.description)}`);
        const inSub = `${inCommand}; and __fish_seen_subcommand_from ${s.name}`;
        lines.push(...fishOptions(root, inSub, s).filter((l) => !l.includes("-l help")));
        if (s.arguments.length > 0) lines.push(`complete -c ${root} -n ${fishQuote(inSub)} -a ${fishQuote(words(s.arguments))}`);
      }
    }
  }
  void all;
  return `${lines.join('\n')}\n`;
}
