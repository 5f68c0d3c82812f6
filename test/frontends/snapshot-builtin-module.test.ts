/**
 * loadBuiltinModule (src/builtin-module.ts) on the Nodes that have no
 * process.getBuiltinModule (20.10-20.15, 22.0-22.2, which `engines` takes):
 * inside a start-up snapshot, where import() has no loader, and in the
 * ES-module builds (dist/, and the sendmail command's plain bundle, where
 * esbuild's stand-in for `require` throws). The trigger loads node:net
 * through it: a message queued from the snapshot on such a Node nudged no
 * agent while it fell back to import(), and one from the plain bundle was
 * queued and then reported as failed (exit 70) while the stand-in threw.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { loadBuiltinModule } from '../../src/builtin-module.js';
import { ROOT } from '../support/cli.js';

/** Runs `fn` as if this Node had no process.getBuiltinModule. */
async function withoutGetBuiltinModule<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Object.getOwnPropertyDescriptor(process, 'getBuiltinModule');
  delete (process as { getBuiltinModule?: unknown }).getBuiltinModule;
  try {
    return await fn();
  } finally {
    if (saved) Object.defineProperty(process, 'getBuiltinModule', saved);
  }
}

test('in the ES-module build, without process.getBuiltinModule, node:net is Node\'s', async () => {
  const loaded = await withoutGetBuiltinModule(() => loadBuiltinModule<typeof net>('node:net', () => import('node:net')));
  assert.equal(process.getBuiltinModule === undefined, false, 'restored');
  assert.equal(loaded.connect, net.connect);
});

/** Bundles, with esbuild, an entry that loads node:net through loadBuiltinModule without process.getBuiltinModule. */
async function bundleNetLoader(dir: string, format: 'iife' | 'esm', inSnapshot: boolean): Promise<string> {
  const load = `delete (process as { getBuiltinModule?: unknown }).getBuiltinModule;
       loadBuiltinModule<typeof import('node:net')>('node:net', () => import('node:net')).then(
         (net) => process.stdout.write('net.connect is a ' + typeof net.connect + '\\n'),
         (err) => process.stdout.write('failed: ' + String(err) + '\\n'),
       );`;
  const entry = path.join(dir, `entry-${format}.ts`);
  await fs.writeFile(
    entry,
    `import { loadBuiltinModule } from ${JSON.stringify(path.join(ROOT, 'src', 'builtin-module.ts'))};
     import v8 from 'node:v8';
     ${inSnapshot ? `v8.startupSnapshot.setDeserializeMainFunction(() => { ${load} });` : `void v8; ${load}`}`,
  );
  const outfile = path.join(dir, format === 'esm' ? 'bundle.mjs' : 'snapshot.cjs');
  // As scripts/bundle-sendmail.mjs builds them: the snapshot a script (iife), the plain bundle an ES module.
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format, outfile, logLevel: 'silent' });
  return outfile;
}

test('inside a start-up snapshot, without process.getBuiltinModule, node:net loads (the require the snapshot builder gives its script)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkmailer-builtin-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const script = await bundleNetLoader(dir, 'iife', true);
  const blob = path.join(dir, 'snapshot.blob');
  const made = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', script], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const run = spawnSync(process.execPath, ['--snapshot-blob', blob], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'net.connect is a function\n');
});

test('in an esbuild ES-module bundle (the plain bundle), without process.getBuiltinModule, node:net loads (import(), past the throwing stand-in for require)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkmailer-builtin-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const script = await bundleNetLoader(dir, 'esm', false);
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'net.connect is a function\n');
});
