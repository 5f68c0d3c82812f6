/**
 * The queue's listing has one reader's name: listEntryIds, the queued view
 * (state files without the entries a journal's done line records as
 * finished). The raw listing, listStateFileIdsIncludingFinished, is the
 * flusher's alone (it lists after its own recovery: src/spool/scan.ts says
 * why), so a new reader cannot show finished entries as queued by taking
 * it. This test reads src/ with the TypeScript parser (comments and strings
 * never count) and fails on any other module naming it. What each reader
 * shows is tested on a real spool in test/flush/crash-journal.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from '../support/cli.js';

const RAW = 'listStateFileIdsIncludingFinished';
/** Its definition, the spool's front door, and the flusher. */
const ALLOWED = ['src/flush/flush.ts', 'src/spool/index.ts', 'src/spool/scan.ts'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function namesIdentifier(file: string, name: string): boolean {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  let found = false;
  const visit = (node: ts.Node): void => {
    if (found) return;
    if (ts.isIdentifier(node) && node.text === name) found = true;
    else node.forEachChild(visit);
  };
  visit(source);
  return found;
}

test(`only the flusher lists state files with the finished entries (${RAW}); every other reader takes listEntryIds`, () => {
  const users = sourceFiles(path.join(ROOT, 'src'))
    .filter((file) => namesIdentifier(file, RAW))
    .map((file) => path.relative(ROOT, file).split(path.sep).join('/'))
    .sort();
  assert.deepEqual(users, ALLOWED);
  // The check sees a use that is there: the readers name the queued view.
  for (const reader of ['src/cli/commands/status.ts', 'src/frontends/sendmail/mailq.ts', 'src/cli/entry-args.ts', 'src/cli/commands/retry.ts', 'src/doctor/check-spool.ts']) {
    assert.ok(namesIdentifier(path.join(ROOT, reader), 'listEntryIds'), reader);
  }
});
