/**
 * The V8 heap's size for the long-running commands (flush, agent, listen):
 * what this module owns is two V8 settings, changed at run time, and a
 * garbage-collection observer that steers one of them.
 *
 * Why: their live heap is ~20 MiB at any queue size, but V8 sizes its heap
 * for throughput. At ~2,800 messages a second its young generation grows to
 * two 16 MiB semi-spaces (64 MiB on Node 24) and the old generation is let
 * grow to a multiple of the live heap between full collections: a flush of
 * 100,000 entries peaked at ~130 MiB of PSS, the listener near 100 under
 * eight clients (docs/performance.md, "The heap cap").
 *
 * Why at run time: `--max-semi-space-size` and friends are read once, when
 * V8 sets its heap up, and the commands also run as `node bin/bulkmailer`
 * (autostart's units and cron lines, the tests), where bin/bulkmailer's
 * shell part does not run to pass them. Two V8 flags are read again each time V8
 * uses them, and Node leaves flags writable after start-up
 * (`--no-freeze-flags-after-init`), so `v8.setFlagsFromString` changes them:
 *
 *  - `--semi-space-growth-factor`: how much the young generation grows when
 *    V8 decides it should (V8 reads it at each growth). It stays 2 while
 *    the young generation is below SEMI_SPACE_CAP_BYTES and is set to
 *    1 (no growth) once it is there, after every collection, by a
 *    PerformanceObserver on 'gc' entries. The observer runs between
 *    callbacks, not inside a collection, so a long synchronous burst of
 *    allocation could grow it one step past the cap before it is frozen;
 *    the commands' work is short callbacks, where it lands on the cap
 *    (measured: docs/performance.md). Once it is at the cap the observer
 *    is disconnected and the size looked at every AT_CAP_CHECK_MS instead:
 *    Node makes an entry for every collection while anyone observes them
 *    (with deprecated accessors, a Map, new hidden classes), ~4 KB in the
 *    old generation per scavenge, a tenth of what the listener promoted
 *    per message (docs/performance.md, "The listener's promotions"); and
 *    at the cap there is nothing to steer after each collection, growth
 *    being off. V8 may shrink it when allocation slows; the look every
 *    AT_CAP_CHECK_MS notices, lets it grow back and observes again.
 *  - `--heap-growing-percent`: the old generation's next limit, after each
 *    full collection, is the live heap plus this percentage, instead of
 *    V8's factor of 1.1 to 4 chosen for speed.
 *
 * How it fails: it cannot. On a V8 this module was not checked against
 * (CHECKED_V8_MAJORS), nothing is changed and the heap is V8's default,
 * because V8 prints "unrecognized flag" on stderr for a flag it lost and
 * a flag kept under its name might mean something else. On a checked V8
 * that ignored the flags, the heap would simply be V8's default again.
 * test/cli/heap-cap.test.ts fails when CI's Node versions leave the list.
 */
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import { SEMI_SPACE_CAP_BYTES } from './long-running.js';

/**
 * The old generation's headroom over the live heap after a full collection,
 * in percent. 20 gave as small a heap for ~3% more CPU than 50 (measured).
 */
export const OLD_GENERATION_GROWING_PERCENT = 50;

/** V8 major versions whose heap reads both flags at run time: Node 20 (11.3), 22 (12.4), 24 (13.6). */
const CHECKED_V8_MAJORS: ReadonlySet<number> = new Set([11, 12, 13]);

/** Whether this process's V8 is one the flags were checked on. */
export function heapCapSupported(v8Version: string = process.versions.v8): boolean {
  return CHECKED_V8_MAJORS.has(Number(v8Version.split('.')[0]));
}

/** How often the young generation's size is looked at while it is at its cap. */
const AT_CAP_CHECK_MS = 1000;

let capped = false;
/** Observes every collection while the young generation is below its cap. */
let observer: PerformanceObserver | null = null;
/** Looks now and then while it is at its cap. */
let atCapTimer: NodeJS.Timeout | null = null;
let growthFactor = 2;
let semiSpaceCap = SEMI_SPACE_CAP_BYTES;

/** The capacity of the young generation's semi-space now (V8 grows and shrinks it). */
export function semiSpaceBytes(): number {
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space === undefined ? 0 : space.space_used_size + space.space_available_size;
}

/**
 * Lets the young generation double while the doubling stays within the cap,
 * and freezes it there. Semi-spaces are powers of two from 1 MiB; what V8
 * reports is a little below them (page headers), hence the 3/4.
 */
function steerYoungGeneration(): void {
  const belowCap = semiSpaceBytes() <= (semiSpaceCap * 3) / 4;
  const wanted = belowCap ? 2 : 1;
  if (wanted !== growthFactor) {
    v8.setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
    growthFactor = wanted;
  }
  if (belowCap) watchEveryCollection();
  else watchNowAndThen();
}

/** Below the cap any scavenge may grow the young generation: look after each one. */
function watchEveryCollection(): void {
  if (atCapTimer !== null) {
    clearInterval(atCapTimer);
    atCapTimer = null;
  }
  if (observer !== null) return;
  observer = new PerformanceObserver(steerYoungGeneration);
  observer.observe({ entryTypes: ['gc'] });
}

/** At the cap it cannot grow (factor 1); only a shrink by V8 changes it. */
function watchNowAndThen(): void {
  if (observer !== null) {
    observer.disconnect();
    observer = null;
  }
  if (atCapTimer !== null) return;
  atCapTimer = setInterval(steerYoungGeneration, AT_CAP_CHECK_MS);
  // It keeps no process alive.
  atCapTimer.unref();
}

/**
 * Caps this process's heap for the rest of its life (the first call's cap
 * holds; later calls change nothing). Called for the long-running
 * commands as the CLI starts (./long-running.ts); the short ones
 * (status, the sendmail command, enqueue) end before V8 grows anything.
 * `youngCapBytes`: one semi-space's cap, a power of two from 1 MiB.
 * Returns whether the cap is in force.
 */
export function capHeap(youngCapBytes: number = SEMI_SPACE_CAP_BYTES): boolean {
  if (capped) return true;
  if (!heapCapSupported()) return false;
  capped = true;
  semiSpaceCap = youngCapBytes;
  v8.setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWING_PERCENT}`);
  steerYoungGeneration();
  return true;
}

