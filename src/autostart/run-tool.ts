/**
 * Running the platform tools autostart needs (systemctl, launchctl,
 * crontab), each overridable by an environment variable naming the program
 * to run instead (BULKMAILER_SYSTEMCTL, BULKMAILER_LAUNCHCTL,
 * BULKMAILER_CRONTAB): tests point them at fake scripts, and a user with an
 * odd setup can too. Never throws for a tool that fails or is missing: it
 * answers a value; the caller decides.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ToolResult {
  /** null: the program could not be started (not installed). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** For reports: "systemctl --user daemon-reload (exit 0)". */
  summary: string;
}

export type ToolName = 'systemctl' | 'launchctl' | 'crontab';

const OVERRIDE: Record<ToolName, string> = {
  systemctl: 'BULKMAILER_SYSTEMCTL',
  launchctl: 'BULKMAILER_LAUNCHCTL',
  crontab: 'BULKMAILER_CRONTAB',
};

/** The program to run for `tool`, or null when it is not installed. */
export function findTool(tool: ToolName, env: NodeJS.ProcessEnv): string | null {
  const override = env[OVERRIDE[tool]];
  if (override !== undefined && override !== '') return fs.existsSync(override) ? override : null;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, tool);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

export function runTool(
  tool: ToolName,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  timeoutMs = 30_000,
): Promise<ToolResult> {
  const program = findTool(tool, env);
  const shown = `${tool} ${args.join(' ')}`;
  if (program === null) return Promise.resolve({ code: null, stdout: '', stderr: `${tool}: not found`, summary: `${shown} (not found)` });
  return new Promise((resolve) => {
    const child = spawn(program, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {});
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: err.message, summary: `${shown} (${err.message})` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const c = code ?? 1;
      const why = c === 0 ? '' : `: ${stderr.trim().split('\n')[0] ?? ''}`;
      resolve({ code: c, stdout, stderr, summary: `${shown} (exit ${c}${why})` });
    });
    child.stdin.end(input ?? '');
  });
}
