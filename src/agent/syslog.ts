/**
 * The agent's log lines also to syslog or journald (config agent.syslog,
 * or `bulkmailer agent --syslog`): RFC 5424 messages, facility mail, tag
 * "bulkmailer", PROCID the agent's pid, written to the syslog socket
 * (agent.syslogSocket, /dev/log: journald's or rsyslog's) by one
 * long-running logger(1) (util-linux) that reads a line per message with
 * its priority prefix ("<22>text"). Node has no unix datagram sockets, and
 * logger knows every local syslog's quirks (datagram, else stream).
 *
 * Never throws and never blocks the agent: when logger is missing or
 * exits, `onError` is told once (the agent writes it to agent.log) and
 * later lines go only to agent.log.
 */
import { spawn } from 'node:child_process';

/** syslog(3) severities the agent uses. */
export const SEVERITY = { error: 3, warning: 4, info: 6 } as const;
export type Severity = keyof typeof SEVERITY;

const FACILITY_MAIL = 2;

export interface SyslogSink {
  write(line: string, severity?: Severity): void;
  close(): void;
}

export function openSyslog(socket: string, onError: (message: string) => void): SyslogSink {
  let alive = true;
  let stderr = '';
  const fail = (message: string) => {
    if (!alive) return;
    alive = false;
    onError(`syslog: ${message}; logging to agent.log only`);
  };
  const child = spawn(
    'logger',
    ['--socket', socket, '--rfc5424', '--prio-prefix', '--tag', 'bulkmailer', `--id=${process.pid}`],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  child.on('error', (err) => fail(`cannot run logger(1): ${err.message}`));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('exit', (code) => fail(`logger(1) exited (${code ?? 'signal'})${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}`));
  child.stdin.on('error', () => {});
  // The agent's exit does not wait for logger: it ends when its stdin closes.
  child.unref();
  return {
    write(line, severity = 'info') {
      if (!alive) return;
      // One message per line: a newline inside would split it in two.
      child.stdin.write(`<${FACILITY_MAIL * 8 + SEVERITY[severity]}>${line.replace(/[\r\n]+/g, ' ')}\n`);
    },
    close() {
      alive = false;
      child.stdin.end();
    },
  };
}
