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

/**
 * Another Node version, for real: a copy of this Node's binary in `dir`
 * (as `dir/node`) whose version string (process.versions.node, the one
 * Node compares when it loads a blob) ends in another digit. Each refuses
 * the other's blobs (exit 14), as two installed Node versions do. Only
 * the C string is changed (NUL-terminated, not part of a longer one): the
 * copies inside V8's built-in heap snapshot (a serialized string, its
 * length in the 4 bytes before it, or a download URL) are checksummed,
 * and process.version comes from there.
 */
export async function otherNodeVersion(dir: string): Promise<{ node: string; version: string }> {
  const bytes = await fs.readFile(process.execPath);
  const version = Buffer.from(process.versions.node);
  const digit = version[version.length - 1] === 0x39 ? 0x38 : 0x39;
  let patched = 0;
  for (let at = bytes.indexOf(version); at >= 0; at = bytes.indexOf(version, at + 1)) {
    const start = at > 0 && bytes[at - 1] === 0x76 ? at - 1 : at; // with its "v"
    if (bytes[at + version.length] !== 0) continue; // inside a longer string (a download URL)
    if (start >= 4 && bytes.readUInt32LE(start - 4) === at + version.length - start) continue;
    bytes[at + version.length - 1] = digit;
    patched++;
  }
  assert.ok(patched > 0, 'the Node binary holds its version string');
  const node = `${dir}/node`;
  await fs.writeFile(node, bytes, { mode: 0o755 });
  const version2 = `${process.versions.node.slice(0, -1)}${String.fromCharCode(digit)}`;
  return { node, version: version2 };
}
