/**
 * The agent's log: one line per event, "2025-05-01T09:30:00.000Z message",
 * to stderr always, and also appended to log/agent.log (its path from
 * spool/paths.ts, beside the delivery log) when stderr
 * is not a terminal (under systemd, launchd or an XDG session nobody reads
 * stderr live). Every line goes through redactUrl, a second guard after
 * the rule that only Smarthost.display forms are logged: never a password.
 *
 * With `syslog` (config agent.syslog, `agent --syslog`) every line also
 * goes to syslog/journald (src/agent/syslog.ts), without the timestamp
 * (syslog adds its own).
 *
 * The file is rotated once at open when it has grown past ROTATE_BYTES
 * (agent.log -> agent.log.1). Writing never throws: a full disk loses log
 * lines, not mail.
 */
import fs from 'node:fs';
import path from 'node:path';
import { redactUrl } from '../config/smarthost.js';
import { agentLogPath, spoolLayout } from '../spool/index.js';
import { openSyslog } from './syslog.js';
const ROTATE_BYTES = 5 * 1024 * 1024;

export interface AgentLog {
  write(line: string): void;
  close(): void;
  /** The file lines also go to, or null (stderr is a terminal). */
  file: string | null;
}

export interface AgentLogOptions {
  /** Also to syslog through this socket (e.g. /dev/log); null or absent: no syslog. */
  syslogSocket?: string | null;
}

export function openAgentLog(home: string, stderr: NodeJS.WritableStream & { isTTY?: boolean }, options: AgentLogOptions = {}): AgentLog {
  let fd: number | null = null;
  let file: string | null = null;
  if (!stderr.isTTY) {
    file = agentLogPath(spoolLayout(home));
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      try {
        if (fs.statSync(file).size > ROTATE_BYTES) fs.renameSync(file, `${file}.1`);
      } catch {
        /* no file yet */
      }
      fd = fs.openSync(file, 'a', 0o600);
    } catch {
      fd = null;
    }
  }
  const log: AgentLog = {
    file,
    write(line: string) {
      const safe = redactUrl(line);
      syslog?.write(safe);
      const text = `${new Date().toISOString()} ${safe}\n`;
      try {
        stderr.write(text);
      } catch {
        /* closed stderr */
      }
      if (fd !== null) {
        try {
          fs.writeSync(fd, text);
        } catch {
          /* disk full: drop the line */
        }
      }
    },
    close() {
      syslog?.close();
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
  const syslog = options.syslogSocket ? openSyslog(options.syslogSocket, (message) => log.write(message)) : null;
  return log;
}
