/**
 * What bin/bulkmailer-sendmail runs, as one module: the entry point of the
 * sendmail command's bundle (scripts/bundle-sendmail.mjs builds
 * dist/bundle/sendmail/entry.js from it). Everything the bin imports comes
 * through here, so the bundle holds one copy of each module.
 */
export { personaOf, sendmailMain } from './main.js';
export { endQuietlyWhenReaderGoes } from '../../output-stream.js';
