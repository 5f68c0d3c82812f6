/**
 * Spoiling a sendmail start-up snapshot blob for the tests of its
 * fallbacks (test/frontends/sendmail-snapshot*.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';

/** The same blob, claiming to be built by another Node version (the version string in its header): Node refuses it with exit 14. */
export async function pretendOtherNodeVersion(blob: string): Promise<void> {
  const bytes = await fs.readFile(blob);
  const version = Buffer.from(process.versions.node);
  const at = bytes.indexOf(version);
  assert.ok(at >= 0 && at < 64, 'the blob names its Node version in its header');
  const last = at + version.length - 1;
  bytes[last] = bytes[last] === 0x39 ? 0x38 : 0x39;
  await fs.writeFile(blob, bytes);
}
