/**
 * `bulkmailer completion bash|zsh|fish`: the scripts are built from the
 * command tree. Bash is run for real (the script sourced, `complete -p`,
 * then the completion function called the way bash calls it); zsh and fish
 * are not installed here, so their scripts are checked to name every
 * command, subcommand and option of the tree.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { makeTempHome } from '../support/home.js';
import { buildProgram } from '../../src/cli/main.js';
import { CONFIG_KEYS } from '../../src/config/schema.js';

const program = buildProgram();
const commands = program.commands.map((c) => c.name()).filter((n) => n !== 'help');
const scripts: Record<string, string> = {};

before(async () => {
  const temp = await makeTempHome();
  try {
    for (const shell of ['bash', 'zsh', 'fish']) {
      const run = await runCli(['completion', shell], { home: temp.home });
      assert.equal(run.code, 0, run.stderr);
      scripts[shell] = run.stdout;
    }
  } finally {
    await temp.cleanup();
  }
});

/** Runs the bash completion for the words typed so far (the last one being completed). */
async function bashComplete(typed: string[]): Promise<string[]> {
  const temp = await makeTempHome();
  try {
    const file = path.join(temp.home, 'completion.bash');
    await fs.writeFile(file, scripts.bash!);
    const words = ['bulkmailer', ...typed].map((w) => `'${w}'`).join(' ');
    const run = spawnSync('bash', ['--norc', '-c', `source '${file}'; COMP_WORDS=(${words}); COMP_CWORD=${typed.length}; _bulkmailer; printf '%s\\n' "\${COMPREPLY[@]}"`], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.split('\n').filter((w) => w !== '');
  } finally {
    await temp.cleanup();
  }
}

test('bash: sourcing the script registers the function; every command completes', async () => {
  const temp = await makeTempHome();
  try {
    const file = path.join(temp.home, 'completion.bash');
    await fs.writeFile(file, scripts.bash!);
    const run = spawnSync('bash', ['--norc', '-c', `source '${file}' && complete -p bulkmailer`], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'complete -F _bulkmailer bulkmailer');
  } finally {
    await temp.cleanup();
  }
  const first = await bashComplete(['']);
  for (const name of commands) assert.ok(first.includes(name), `${name} completes: ${first.join(' ')}`);
  assert.deepEqual(await bashComplete(['fl']), ['flush']);
  assert.deepEqual(await bashComplete(['--home', '/tmp', 'fl']), ['flush'], '--home DIR is skipped when finding the command');
  assert.deepEqual((await bashComplete(['flush', '--'])).sort(), ['--help', '--quiet', '--verbose']);
});

test('bash: subcommands, argument choices, option choices and config keys', async () => {
  const config = program.commands.find((c) => c.name() === 'config')!;
  const subs = await bashComplete(['config', '']);
  for (const sub of config.commands.map((c) => c.name()).filter((n) => n !== 'help')) assert.ok(subs.includes(sub), sub);
  assert.deepEqual((await bashComplete(['autostart', ''])).filter((w) => !w.startsWith('-')), ['install', 'uninstall', 'status']);
  assert.deepEqual(await bashComplete(['autostart', 'install', '--kind', '']), ['systemd', 'launchd', 'xdg', 'cron']);
  const keys = await bashComplete(['config', 'get', '']);
  for (const { key } of CONFIG_KEYS) assert.ok(keys.includes(key), key);
  assert.deepEqual((await bashComplete(['completion', ''])).filter((w) => !w.startsWith('-')), ['bash', 'zsh', 'fish']);
});

test('zsh and fish: every command, subcommand and option of the tree is in the script', () => {
  assert.match(scripts.zsh!, /^#compdef bulkmailer\n/);
  for (const command of program.commands.filter((c) => c.name() !== 'help')) {
    assert.match(scripts.zsh!, new RegExp(`'${command.name()}:`), `zsh: ${command.name()}`);
    assert.match(scripts.fish!, new RegExp(`-n '__fish_use_subcommand' -a ${command.name()} -d`), `fish: ${command.name()}`);
    for (const option of command.options) {
      assert.ok(scripts.zsh!.includes(`${option.long}'[`) || scripts.zsh!.includes(`${option.long}}'[`), `zsh: ${command.name()} ${option.long}`);
      assert.ok(scripts.fish!.includes(`-n '__fish_seen_subcommand_from ${command.name()}' -l ${option.long!.slice(2)}`), `fish: ${command.name()} ${option.long}`);
    }
    for (const sub of command.commands.filter((c) => c.name() !== 'help')) {
      assert.match(scripts.zsh!, new RegExp(`'${sub.name()}:`), `zsh: ${command.name()} ${sub.name()}`);
      assert.match(scripts.fish!, new RegExp(`-a ${sub.name()} -d`), `fish: ${command.name()} ${sub.name()}`);
    }
  }
});

test('an unknown shell is a usage error (64)', async () => {
  const temp = await makeTempHome();
  try {
    const run = await runCli(['completion', 'tcsh'], { home: temp.home });
    assert.equal(run.code, 64);
    assert.equal(run.stdout, '');
  } finally {
    await temp.cleanup();
  }
});
