/**
 * loadBuiltinModule (src/builtin-module.ts) on the Nodes that have no
 * process.getBuiltinModule (20.10-20.15, 22.0-22.2, which `engines` takes):
 * inside a start-up snapshot, where import() has no loader, and in the
 * ES-module build. The trigger loads node:net through it, so a message
 * queued from the sendmail snapshot on such a Node nudged no agent while
 * it fell back to import().
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

test('inside a start-up snapshot, without process.getBuiltinModule, node:net loads (the require the snapshot builder gives its script)', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bulkmailer-builtin-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  // The snapshot's main does what an older Node leaves it: no getBuiltinModule.
  await fs.writeFile(
    path.join(dir, 'entry.ts'),
    `import { loadBuiltinModule } from ${JSON.stringify(path.join(ROOT, 'src', 'builtin-module.ts'))};
     import v8 from 'node:v8';
     v8.startupSnapshot.setDeserializeMainFunction(() => {
       delete (process as { getBuiltinModule?: unknown }).getBuiltinModule;
       loadBuiltinModule<typeof import('node:net')>('node:net', () => import('node:net')).then(
         (net) => process.stdout.write('net.connect is a ' + typeof net.connect + '\\n'),
         (err) => process.stdout.write('failed: ' + String(err) + '\\n'),
       );
     });`,
  );
  // As scripts/bundle-sendmail.mjs builds the snapshot script: one script (iife) for Node.
  await build({ entryPoints: [path.join(dir, 'entry.ts')], bundle: true, platform: 'node', format: 'iife', outfile: path.join(dir, 'snapshot.cjs'), logLevel: 'silent' });
  const blob = path.join(dir, 'snapshot.blob');
  const made = spawnSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', path.join(dir, 'snapshot.cjs')], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const run = spawnSync(process.execPath, ['--snapshot-blob', blob], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'net.connect is a function\n');
});
