// Writes man/bulkmailer.1 and man/bulkmailer-sendmail.1 from the built
// command tree (dist/cli/man-page.js): part of `npm run build`, so the
// pages npm installs (package.json "man") always match --help.
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildProgram } from '../dist/cli/main.js';
import { renderBulkmailerMan, renderSendmailMan } from '../dist/cli/man-page.js';
import { packageVersion } from '../dist/version.js';

const dir = new URL('../man/', import.meta.url);
mkdirSync(dir, { recursive: true });
writeFileSync(new URL('bulkmailer.1', dir), renderBulkmailerMan(buildProgram(), packageVersion()));
writeFileSync(new URL('bulkmailer-sendmail.1', dir), renderSendmailMan(packageVersion()));
