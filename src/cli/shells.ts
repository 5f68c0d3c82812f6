/**
 * The shells `bulkmailer completion` writes a script for. Apart from
 * completion.ts so that building the command tree (every command's start,
 * `listen` included) does not load the script generator with it. Pure data.
 */
export type Shell = 'bash' | 'zsh' | 'fish';
export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];
