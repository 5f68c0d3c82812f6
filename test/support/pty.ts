/**
 * Runs a command on a pseudo-terminal (util-linux `script`, present on every
 * Debian/Ubuntu through bsdutils), so tests see what a person at a terminal
 * sees: colour, progress bars, cursor control. stdout of the returned
 * result is everything the terminal received (stdout and stderr mixed, CRLF
 * line ends).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p)) ?? 'script';

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface PtyResult {
  code: number | null;
  output: string;
}

export function runInPty(argv: string[], env: NodeJS.ProcessEnv, options: { input?: string; timeoutMs?: number } = {}): Promise<PtyResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const command = argv.map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    // -e: exit with the command's code; -f: flush each write; -q: no banner.
    const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pty command timed out: ${command}\n${output}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}
