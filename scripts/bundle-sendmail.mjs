/**
 * Build step (run by `npm run build`, hence by `npm ci` through `prepare`):
 * bundles the sendmail command's code from src/ into dist/bundle/sendmail/,
 * which bin/bulkmailer-sendmail loads. One file for the path that queues a
 * message, instead of ~40 modules that Node's ES module loader resolves,
 * reads and links one by one; what only -bs, -q, -bp or -odi need stays in
 * chunks loaded on demand (esbuild's code splitting). npm packages stay
 * outside (imported from node_modules as before), so their own file layout
 * and behaviour are untouched.
 *
 * Relative URLs in the source (`new URL('../package.json',
 * import.meta.url)`) keep meaning what they mean in dist/ (keepModuleUrls
 * below); the build checks that every URL resolved against the bundle's
 * own location names an existing file, and fails (exit 1) otherwise, or
 * when esbuild fails. Plain .mjs so it runs without
 * tsx: `npm ci` in CI runs it before anything else is built.
 *
 * Then the start-up snapshot (src/frontends/sendmail/snapshot-entry.ts):
 * the queueing path as one script (dist/bundle/sendmail/snapshot.cjs,
 * Node's built-ins its only imports: a snapshot cannot load files), and
 * `node --build-snapshot` on it with the Node that runs this build, into
 * dist/bundle/sendmail/snapshot.blob. A blob only loads into the Node
 * version (and V8 flags) that built it, which is why `npm test` rebuilds
 * it on each version and bin/bulkmailer-sendmail falls back to the plain
 * bundle when Node refuses it. Built without NODE_OPTIONS, so that it
 * matches a Node started without V8 flags other than the hash seed's:
 * built with `--hash-seed=<seed>`, the seed chosen here, per build, from
 * crypto randomness (dist/sendmail-snapshot/hash-seed.js, compiled by the
 * tsc step before this one), then loaded once to learn how this Node runs
 * it (with --no-rehash-snapshot where it allows, dist/sendmail-snapshot/
 * build.js's runTokenFor); that seed token goes to snapshot.seed, where
 * bin/bulkmailer-sendmail reads it. Fails (exit 1) when the bundle
 * imports anything but built-ins, uses import.meta, or Node cannot build
 * the blob. Last, snapshot.id: the script's hash, which names the
 * per-user blobs built from this same script after install
 * (src/sendmail-snapshot/: the npm package ships without the blob).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildSeededBlob } from '../dist/sendmail-snapshot/build.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle', 'sendmail');

/**
 * `new URL('../package.json', import.meta.url)` in src/version.ts means "next
 * to dist/": in a bundle, import.meta.url is the chunk's URL instead. So in
 * each source file, import.meta.url becomes the URL its tsc output has in
 * dist/, computed from the chunk's own (all chunks share outdir).
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const compiled = path.join(root, 'dist', path.relative(path.join(root, 'src'), args.path)).replace(/\.ts$/, '.js');
      const relative = path.relative(outdir, compiled).split(path.sep).join('/');
      const url = `new URL(${JSON.stringify(relative)}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

/**
 * The package modules on the path that queues a message are nodemailer's
 * address parser and its MIME word encoder (with the base64, qp, mime-types
 * modules it imports): code without I/O or state, importing only Node's
 * built-ins. They are bundled, so queueing resolves no package (each
 * package resolution reads package.json files and walks `exports`).
 * Everything else of nodemailer stays in node_modules.
 */
const bundlePureNodemailer = {
  name: 'bundle-pure-nodemailer',
  setup(b) {
    // Resolved as Node resolves it for an import (the package's ESM build).
    b.onResolve({ filter: /^nodemailer\/lib\/(addressparser|mime-funcs)$/ }, (args) => ({
      path: fileURLToPath(import.meta.resolve(args.path)),
    }));
  },
};

/**
 * In the start-up snapshot only: node:crypto is src/frontends/sendmail/
 * snapshot-crypto.ts (random bytes from /dev/urandom), so that crypto's
 * modules are not in the heap every message deserializes (~200 KB).
 */
const snapshotCrypto = {
  name: 'snapshot-crypto',
  setup(b) {
    const shim = path.join(root, 'src', 'frontends', 'sendmail', 'snapshot-crypto.ts');
    // (Its own lazy require of Node's crypto, for createHash, stays Node's.)
    b.onResolve({ filter: /^(node:)?crypto$/ }, (args) => (args.importer === shim ? undefined : { path: shim }));
  },
};

fs.rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { entry: path.join(root, 'src', 'frontends', 'sendmail', 'entry.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunk-[hash]',
  logLevel: 'warning',
  plugins: [keepModuleUrls, bundlePureNodemailer],
});

// Relative URLs resolved against import.meta.url must still name real files.
const problems = [];
for (const file of fs.readdirSync(outdir)) {
  const text = fs.readFileSync(path.join(outdir, file), 'utf8');
  for (const m of text.matchAll(/new URL\(\s*["'`]([^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g)) {
    const target = path.resolve(outdir, m[1]);
    if (!fs.existsSync(target)) problems.push(`${file}: ${m[1]} -> ${target} does not exist`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`bundle-sendmail: relative URLs broken by bundling:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}

// The start-up snapshot: one script, built-ins only, then the blob.
const snapshotScript = path.join(outdir, 'snapshot.cjs');
const snapshotBlob = path.join(outdir, 'snapshot.blob');
await build({
  entryPoints: [path.join(root, 'src', 'frontends', 'sendmail', 'snapshot-entry.ts')],
  outfile: snapshotScript,
  bundle: true,
  format: 'iife', // a script: the snapshot builder runs it without CommonJS's module object
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  plugins: [bundlePureNodemailer, snapshotCrypto],
});
const script = fs.readFileSync(snapshotScript, 'utf8');
const outside = [...script.matchAll(/\brequire\((["'])([^"']+)\1\)/g)].map((m) => m[2]).filter((name) => !isBuiltin(name));
if (outside.length > 0 || script.includes('import_meta')) {
  process.stderr.write(`bundle-sendmail: the snapshot script must import only Node's built-ins and not use import.meta; it imports: ${[...new Set(outside)].join(', ') || '(built-ins only, but uses import.meta)'}\n`);
  process.exit(1);
}
const partial = `${snapshotBlob}.${process.pid}.tmp`;
// Built with a V8 hash seed drawn for this build, never a constant of ours (docs/performance.md, "V8's hash
// seed for the sendmail command's snapshot"), as a per-user blob is; without NODE_OPTIONS.
const run = buildSeededBlob(partial, snapshotScript);
if (!('token' in run)) {
  fs.rmSync(partial, { force: true });
  process.stderr.write(`bundle-sendmail: cannot build the start-up snapshot: ${run.problem}\n`);
  process.exit(1);
}
// The seed before the blob: a blob and a seed that disagree (a build cut short between the two): Node 20
// refuses the blob (exit 14: its flags differ from the build's), and the launcher goes on to the next one;
// 22 and 24 (an `n` token) load it with any seed, harmless: not rehashed, V8 hashes with the secrets the blob
// holds (its own seed's, runTokenFor checked), and the flag's seed is not used.
const seedFile = path.join(outdir, 'snapshot.seed');
fs.writeFileSync(`${seedFile}.${process.pid}.tmp`, `${run.token}\n`);
fs.renameSync(`${seedFile}.${process.pid}.tmp`, seedFile);
fs.renameSync(partial, snapshotBlob);
// What a per-user blob is built from, named (src/sendmail-snapshot/cache.ts): a blob
// in the user's cache is only loaded by the bundle whose script has this hash.
const bundleId = createHash('sha256').update(script).digest('hex').slice(0, 16);
fs.writeFileSync(path.join(outdir, 'snapshot.id'), `${bundleId}\n`);
