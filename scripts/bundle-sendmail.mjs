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
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

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
