// Preloaded with `node --import` into a command under test: when the
// command is done (the first 'beforeExit': the event loop is empty, so the
// command's own work is over), or at SIGUSR2 for a command that runs until
// stopped (listen, agent), allocates objects that survive a few
// scavenges, in short callbacks as the commands' own work does, and writes
// the largest semi-space capacity V8 scavenged with (what the new space
// uses plus what it has left, read after each minor collection) to the
// file named by $BULKMAILER_TEST_HEAP_FILE as JSON. Without a cap, V8
// grows the semi-space to 16 MiB (64 on Node 24) under this load;
// src/cli/heap-cap.ts holds it at its cap. Read after scavenges only: on
// Node 24 the new space also takes pages beyond its capacity while a full
// collection's incremental marking runs, whatever the cap (the startup
// flag --max-semi-space-size too). The command's own work is unchanged;
// only its exit is delayed by the allocation (~1-2 s).
import { renameSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

const target = process.env.BULKMAILER_TEST_HEAP_FILE;
const CALLBACKS = 1000;
const OBJECTS_PER_CALLBACK = 2000;

const semiSpaceBytes = () => {
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space === undefined ? 0 : space.space_used_size + space.space_available_size;
};

if (target) {
  let started = false;
  const run = () => {
    if (started) return;
    started = true;
    let largest = 0;
    let scavenges = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
        scavenges++;
        largest = Math.max(largest, semiSpaceBytes());
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    let kept = [];
    let round = 0;
    const step = () => {
      for (let i = 0; i < OBJECTS_PER_CALLBACK; i++) {
        kept.push({ round, i, text: `entry ${round}-${i}`, pair: [round, i] });
        if (kept.length > 40_000) kept = kept.slice(20_000);
      }
      if (++round < CALLBACKS) return setImmediate(step);
      // One more turn, so the observer has seen the last collections.
      setImmediate(() => {
        observer.disconnect();
        // Whole or not at all: a test may be waiting for the file to appear.
        writeFileSync(`${target}.tmp`, JSON.stringify({ largestSemiSpaceBytes: largest, scavenges, node: process.version }));
        renameSync(`${target}.tmp`, target);
      });
    };
    setImmediate(step);
  };
  process.on('beforeExit', run);
  process.on('SIGUSR2', run);
}
