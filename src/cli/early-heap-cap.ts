/**
 * Imported first by the CLI's entry (bin/bulkmailer): caps V8's heap for
 * a long-running command (flush, agent, listen) before the CLI's own
 * modules load and grow the young generation (src/cli/heap-cap.ts,
 * capHeapForCommandLine). Loads only node:v8 and node:perf_hooks.
 */
import { capHeapForCommandLine } from './heap-cap.js';

capHeapForCommandLine(process.argv.slice(2));
