// The loader hook of record-modules.mjs (runs on Node's hooks thread): one
// line per loaded file: URL, appended to $BULKMAILER_TEST_MODULES_FILE.
import { appendFileSync } from 'node:fs';

const file = process.env.BULKMAILER_TEST_MODULES_FILE;

export async function load(url, context, nextLoad) {
  if (file && url.startsWith('file:')) appendFileSync(file, `${url}\n`);
  return nextLoad(url, context);
}
