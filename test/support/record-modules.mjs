// Preloaded with `node --import` into a command under test: registers a
// module loader hook (record-modules-hooks.mjs) that appends the URL of
// every module the command loads to $BULKMAILER_TEST_MODULES_FILE, so a
// test can see which files a bin really runs. Does nothing when unset.
import { register } from 'node:module';

if (process.env.BULKMAILER_TEST_MODULES_FILE) register('./record-modules-hooks.mjs', import.meta.url);
