/**
 * The work V8's start-up spends deriving its string-hash secrets from a
 * hash seed, per seed (src/sendmail-snapshot/hash-seed.ts's replica of
 * rapidhash_make_secret): the secrets, candidates drawn, strong-probable-
 * prime rounds and 64-bit modulo operations.
 *
 *   npx tsx bench/hash-seed-work.ts SEED...
 */
import { makeSecretWork } from '../src/sendmail-snapshot/hash-seed.js';

for (const arg of process.argv.slice(2)) {
  const work = makeSecretWork(BigInt(arg));
  const hex = work.secrets.map((word) => `0x${word.toString(16).padStart(16, '0')}`).join(' ');
  process.stdout.write(`${arg} ${hex} candidates=${work.candidates} sprp=${work.sprpRounds} modulos=${work.modulos}\n`);
}
