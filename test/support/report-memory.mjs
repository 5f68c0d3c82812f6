// Preloaded with `node --import` into a command under test: at exit, writes
// to the file named by $BULKMAILER_TEST_MEMORY_FILE, as JSON, the V8 heap's
// size limit (v8.getHeapStatistics().heap_size_limit, bytes: shows a heap
// cap given on the command line or in NODE_OPTIONS is in force) and the
// process's peak resident set (VmHWM from /proc/self/status, kB; 0 where
// there is no /proc). The measured command itself is unchanged. A process
// that dies (a V8 heap out of memory aborts) writes nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const target = process.env.BULKMAILER_TEST_MEMORY_FILE;
if (target) {
  process.on('exit', () => {
    let peakRssKb = 0;
    try {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (match) peakRssKb = Number(match[1]);
    } catch {
      // Not Linux: the peak is only a diagnostic.
    }
    writeFileSync(target, JSON.stringify({ heapSizeLimit: v8.getHeapStatistics().heap_size_limit, peakRssKb }));
  });
}
