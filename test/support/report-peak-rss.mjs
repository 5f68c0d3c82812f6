// Preloaded with `node --import` into a command under test: at exit, writes
// the process's peak resident set (VmHWM from /proc/self/status, in kB) to
// the file named by $BULKMAILER_TEST_RSS_FILE. Linux only; the measured
// command itself is unchanged.
import { readFileSync, writeFileSync } from 'node:fs';

const target = process.env.BULKMAILER_TEST_RSS_FILE;
if (target) {
  process.on('exit', () => {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    writeFileSync(target, match ? match[1] : '');
  });
}
