/**
 * Starts the real `bulkmailer listen --port 0` of a checkout as a child
 * process for the listener benchmarks and waits for its port. Rejects if
 * the listener exits first. The caller kills it. Without Node flags the
 * command is executed as a program, as a user starts it (bin/bulkmailer's
 * shell part gives `listen` its malloc setting; `node` from PATH, this
 * Node's directory first); with flags, Node runs the file itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface ListenerChild {
  child: ChildProcess;
  port: number;
}

export function startListenerChild(root: string, home: string, nodeFlags: string[] = []): Promise<ListenerChild> {
  const bin = path.join(root, 'bin', 'bulkmailer');
  const [file, args] = nodeFlags.length === 0 ? [bin, []] : [process.execPath, [...nodeFlags, bin]];
  const child = spawn(file, [...args, 'listen', '--port', '0'], {
    env: { ...process.env, BULKMAILER_HOME: home, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}` },
    // stderr carries one log line per accepted message: not part of the measurement.
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`bulkmailer listen exited ${code}`)));
  });
}
