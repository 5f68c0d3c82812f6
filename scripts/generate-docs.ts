/**
 * Writes the generated parts of docs/: the exit-code table of docs/cli.md
 * (between its <!-- exit-codes --> markers) from src/exit-codes.ts, the
 * same table `--help` prints. test/cli/exit-codes.test.ts fails when the
 * page and the table differ. Run with `npm run generate`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { exitCodesMarkdown } from '../src/exit-codes.js';

export const START = '<!-- exit-codes: generated from src/exit-codes.ts by `npm run generate` -->';
export const END = '<!-- /exit-codes -->';

export function withExitCodes(page: string): string {
  const from = page.indexOf(START);
  const to = page.indexOf(END);
  if (from < 0 || to < from) throw new Error('docs/cli.md: the exit-codes markers are missing');
  return `${page.slice(0, from + START.length)}\n${exitCodesMarkdown()}\n${page.slice(to)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('../docs/cli.md', import.meta.url);
  writeFileSync(file, withExitCodes(readFileSync(file, 'utf8')));
}
