/**
 * The work V8's start-up spends deriving its string-hash secrets from the
 * hash seed (HashSeed::InitializeRoots -> rapidhash_make_secret,
 * deps/v8/third_party/rapidhash-v8/secret.h in Node 20.20.2, 22.23.5 and
 * 24.22.3), replicated step for step: the candidates it draws, the
 * strong-probable-prime rounds it runs, and the 64-bit modulo operations
 * of its shift-and-add mul_mod, the work that dominates and varies with the
 * seed (37 to 214 rounds among the seeds tried).
 *
 *   npx tsx bench/hash-seed-work.ts SEED...   # the secrets and the work, per seed
 *
 * Measured with it (docs/performance.md, "V8's hash seed for the sendmail
 * command's snapshot"): a random seed's search is ~10% of a start from a
 * user snapshot, but a snapshot run with --no-rehash-snapshot keeps the
 * secrets it was built with and runs no search at all, whatever its seed,
 * so src/sendmail-snapshot/hash-seed.ts draws plain random seeds instead of
 * choosing cheap ones with this. The secrets it finds are checked against
 * the C code's in test/bench/hash-seed-work.test.ts.
 */
const MASK64 = (1n << 64n) - 1n;
/** rapidhash's default secret words, which wyrand steps with. */
const WY0 = 0x2d358dccaa6c78a5n;
const WY1 = 0x8bb84b93962eacc9n;
/** The 70 bytes with exactly four bits set, in order (secret.h's `c`). */
const BALANCED_BYTES: readonly bigint[] = Array.from({ length: 256 }, (_, b) => b)
  .filter((b) => b.toString(2).replace(/0/g, '').length === 4)
  .map(BigInt);
/** The bases of is_prime's strong-probable-prime rounds, in order. */
const SPRP_BASES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n] as const;

export interface SecretWork {
  /** The three secret words V8 derives from the seed. */
  secrets: [bigint, bigint, bigint];
  /** Candidates drawn (eight wyrand steps each). */
  candidates: number;
  /** Strong-probable-prime rounds run (calls of secret.h's sprp). */
  sprpRounds: number;
  /** 64-bit `%` operations in mul_mod: the cost that varies with the seed. */
  modulos: number;
}

function popcount64(x: bigint): number {
  let n = 0;
  for (let v = x; v !== 0n; v &= v - 1n) n++;
  return n;
}

/**
 * rapidhash_make_secret(seed) as secret.h runs it, with its work counted.
 * mul_mod(a, b, m) computes a*b mod m by shift-and-add over b's bits,
 * with one `%` per set bit and one per doubling after the first bit; the
 * product itself is computed directly here (the result is the same).
 */
export function makeSecretWork(seedIn: bigint): SecretWork {
  let seed = seedIn & MASK64;
  let modulos = 0;
  let sprpRounds = 0;
  let candidates = 0;

  const wyrand = (): bigint => {
    seed = (seed + WY0) & MASK64;
    const product = seed * (seed ^ WY1);
    return (product & MASK64) ^ (product >> 64n);
  };
  const mulMod = (a: bigint, b: bigint, m: bigint): bigint => {
    if (b !== 0n) {
      const bits = b.toString(2);
      modulos += bits.replace(/0/g, '').length + bits.length - 1;
    }
    return (a * b) % m;
  };
  const powMod = (aIn: bigint, bIn: bigint, m: bigint): bigint => {
    let r = 1n;
    let a = aIn;
    let b = bIn;
    while (b !== 0n) {
      if ((b & 1n) !== 0n) r = mulMod(r, a, m);
      b >>= 1n;
      if (b !== 0n) a = mulMod(a, a, m);
    }
    return r;
  };
  const sprp = (n: bigint, a: bigint): boolean => {
    sprpRounds++;
    let d = n - 1n;
    let s = 0;
    while ((d & 1n) === 0n) {
      d >>= 1n;
      s++;
    }
    let b = powMod(a, d, n);
    if (b === 1n || b === n - 1n) return true;
    for (let r = 1; r < s; r++) {
      b = mulMod(b, b, n);
      if (b <= 1n) return false;
      if (b === n - 1n) return true;
    }
    return false;
  };
  const isPrime = (n: bigint): boolean => {
    if (n < 2n || (n & 1n) === 0n) return false;
    if (n < 4n) return true;
    if (!sprp(n, 2n)) return false;
    if (n < 2047n) return true;
    for (const base of SPRP_BASES.slice(1)) if (!sprp(n, base)) return false;
    return true;
  };

  const secrets: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    for (;;) {
      candidates++;
      let word = 0n;
      for (let j = 0n; j < 64n; j += 8n) word |= BALANCED_BYTES[Number(wyrand() % 70n)]! << j;
      if ((word & 1n) === 0n) continue;
      if (secrets.some((other) => popcount64(other ^ word) !== 32)) continue;
      if (!isPrime(word)) continue;
      secrets.push(word);
      break;
    }
  }
  return { secrets: secrets as [bigint, bigint, bigint], candidates, sprpRounds, modulos };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const arg of process.argv.slice(2)) {
    const work = makeSecretWork(BigInt(arg));
    const hex = work.secrets.map((word) => `0x${word.toString(16).padStart(16, '0')}`).join(' ');
    process.stdout.write(`${arg} ${hex} candidates=${work.candidates} sprp=${work.sprpRounds} modulos=${work.modulos}\n`);
  }
}
