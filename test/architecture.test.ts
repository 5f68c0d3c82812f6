/**
 * The import graph of src/ against docs/architecture.md's dependency rules:
 * every import, export-from and import() of src/**\/*.ts, read with the
 * TypeScript parser (so comments and strings never count), is checked
 * against the table "| area | may import |" and the spool's front door
 * (src/spool/index.ts). The table is the source; this test only reads it,
 * so the document and the check cannot drift apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './support/cli.js';

const SRC = path.join(ROOT, 'src');
const DOC = fs.readFileSync(path.join(ROOT, 'docs', 'architecture.md'), 'utf8');

interface ImportArrow {
  file: string; // relative to the repository, e.g. src/agent/agent.ts
  specifier: string;
  target: string | null; // resolved file relative to the repository; null for packages
  line: number;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every module specifier of a file; a computed import() is reported with specifier null. */
export function importsOf(file: string, text: string): { specifier: string | null; line: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { specifier: string | null; line: number }[] = [];
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push({ specifier: node.moduleSpecifier.text, line: lineOf(node) });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      found.push({ specifier: arg !== undefined && ts.isStringLiteralLike(arg) ? arg.text : null, line: lineOf(node) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function arrows(): { arrows: ImportArrow[]; computed: string[] } {
  const all: ImportArrow[] = [];
  const computed: string[] = [];
  for (const full of sourceFiles(SRC)) {
    const file = path.relative(ROOT, full);
    for (const { specifier, line } of importsOf(full, fs.readFileSync(full, 'utf8'))) {
      if (specifier === null) {
        computed.push(`${file}:${line}`);
        continue;
      }
      const target = specifier.startsWith('.')
        ? path.relative(ROOT, path.resolve(path.dirname(full), specifier)).replace(/\.js$/, '.ts')
        : null;
      all.push({ file, specifier, target, line });
    }
  }
  return { arrows: all, computed };
}

/** The area of a file under src/: its first directory, or its own name for files directly in src/. */
function areaOf(file: string): string {
  const parts = path.relative('src', file).split(path.sep);
  return parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
}

/** Rows of the first markdown table whose header starts with the given cells; null when there is none. */
function tableRows(header: string[]): string[][] | null {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => {
    const cells = cellsOf(l);
    return header.every((h, i) => cells[i] === h);
  });
  if (start < 0) return null;
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(cellsOf(line));
  }
  return rows;
}

function cellsOf(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
}

function allowedImports(): Map<string, Set<string>> {
  const table = new Map<string, Set<string>>();
  const rows = tableRows(['area', 'may import']);
  assert.ok(rows !== null, 'docs/architecture.md has no table "| area | may import |"');
  for (const [area, may] of rows) {
    const targets = may!.startsWith('(') ? [] : may!.split(',').map((s) => s.trim());
    table.set(area!, new Set(targets));
  }
  return table;
}

/**
 * An arrow the rules forbid but that must stay for a while is listed in
 * docs/architecture.md in a table "| file | imports | why, and until when |";
 * an entry that no longer matches an import fails the test, so the list
 * cannot go stale. (None today: the table is absent.)
 */
function knownExceptions(): { file: string; area: string }[] {
  return (tableRows(['file', 'imports']) ?? []).map(([file, area]) => ({ file: file!, area: area! }));
}

test('the dependency table in docs/architecture.md names every area of src/ and has no cycle', () => {
  const table = allowedImports();
  const areas = new Set(sourceFiles(SRC).map((f) => areaOf(path.relative(ROOT, f))));
  for (const area of areas) assert.ok(table.has(area), `src area "${area}" is missing from the table in docs/architecture.md`);
  for (const [area, targets] of table) {
    assert.ok(areas.has(area), `the table names "${area}", which is not in src/`);
    for (const t of targets) assert.ok(table.has(t), `"${area}" may import "${t}", which the table does not list`);
  }
  // Depth-first search for a cycle among the allowed arrows.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (area: string, trail: string[]): void => {
    if (state.get(area) === 'done') return;
    assert.notEqual(state.get(area), 'open', `the table allows a cycle: ${[...trail, area].join(' -> ')}`);
    state.set(area, 'open');
    for (const next of table.get(area) ?? []) visit(next, [...trail, area]);
    state.set(area, 'done');
  };
  for (const area of table.keys()) visit(area, []);
});

test('every import in src/ follows the dependency table', () => {
  const table = allowedImports();
  const exceptions = knownExceptions();
  const { arrows: all, computed } = arrows();
  assert.deepEqual(computed, [], 'import() with a computed specifier: name the module, so the graph can be read');
  const violations: string[] = [];
  const usedExceptions = new Set<string>();
  for (const arrow of all) {
    if (arrow.target === null || !arrow.target.startsWith(`src${path.sep}`)) continue;
    const from = areaOf(arrow.file);
    const to = areaOf(arrow.target);
    if (from === to) continue;
    if (table.get(from)?.has(to)) continue;
    const exception = exceptions.find((e) => e.file === arrow.file && e.area === to);
    if (exception !== undefined) {
      usedExceptions.add(`${exception.file} -> ${exception.area}`);
      continue;
    }
    violations.push(`${arrow.file}:${arrow.line}: ${from} -> ${to} ('${arrow.specifier}')`);
  }
  assert.deepEqual(violations, [], 'arrows docs/architecture.md does not allow');
  const stale = exceptions.map((e) => `${e.file} -> ${e.area}`).filter((e) => !usedExceptions.has(e));
  assert.deepEqual(stale, [], 'known exceptions that no longer exist: remove them from docs/architecture.md');
});

test('code outside src/spool reaches the spool only through src/spool/index.ts', () => {
  const around = arrows()
    .arrows.filter((a) => a.target !== null && areaOf(a.file) !== 'spool' && a.target.startsWith(path.join('src', 'spool') + path.sep))
    .filter((a) => a.target !== path.join('src', 'spool', 'index.ts'))
    .map((a) => `${a.file}:${a.line}: '${a.specifier}'`);
  assert.deepEqual(around, []);
});

test('the checker itself sees every kind of import and ignores comments', () => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "const e = await import('./e.js');",
    'const f = await import(name);',
    "type G = import('./g.js').G;",
    "// import h from './h.js';",
    "const s = \"import i from './i.js'\";",
  ].join('\n');
  assert.deepEqual(
    importsOf('x.ts', text).map((i) => i.specifier),
    ['./a.js', '../b.js', './c.js', './d.js', './e.js', null, './g.js'],
  );
});
