// The synthetic worlds' only source of randomness: a small seeded generator, so the same
// arguments give the same bytes on every machine and Node version (Math.random has no
// seed and its algorithm is the engine's choice).
//
// Generator: sfc32, Chris Doty-Humphrey's "Small Fast Chaotic" 32-bit generator from
// PractRand (four 32-bit words of state, 128 bits; passes PractRand to many TB). It fits
// JavaScript because every step is 32-bit integer arithmetic (`| 0`, `>>>`), with no
// bigint. Seeds are spread into the state with a 32-bit mix (the finaliser of MurmurHash3:
// multiply by 0x85ebca6b and 0xc2b2ae35 with xor-shifts), and the first outputs are
// discarded so that nearby seeds diverge.
//
// Streams are *named*: `child('noise')` is a new generator seeded from this one's seed and
// the label, not from how much of this stream was consumed. Adding a feature that draws
// from one stream does not change the bytes any other stream produces.

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Four 32-bit seed words from a list of numbers and strings (order matters). */
function seedWords(parts: readonly (number | string)[]): [number, number, number, number] {
  const w: [number, number, number, number] = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x8aed2a6b];
  let i = 0;
  const feed = (x: number): void => {
    const k = i & 3;
    w[k] = mix32((w[k]! ^ x) + Math.imul(i + 1, 0x27d4eb2d));
    i += 1;
  };
  for (const p of parts) {
    if (typeof p === 'number') {
      // Numbers are fed as two 32-bit halves, so seeds up to 2^53 stay distinct.
      feed(p >>> 0);
      feed(Math.floor(p / 2 ** 32) >>> 0);
      feed(0x6e756d62); // type tag: 123 and "123" must not collide
    } else {
      for (let j = 0; j < p.length; j += 1) feed(p.charCodeAt(j));
      feed(p.length ^ 0x73747273);
    }
  }
  for (let k = 0; k < 4; k += 1) w[k] = mix32(w[k]! ^ w[(k + 1) & 3]! ^ k);
  return w;
}

export class Prng {
  /** The seed and labels this stream was derived from. */
  private readonly path: readonly (number | string)[];
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for `seed`, optionally narrowed by labels: `new Prng(7, 'linux')`. */
  constructor(
    readonly seed: number | string,
    ...labels: string[]
  ) {
    this.path = [seed, ...labels];
    [this.a, this.b, this.c, this.d] = seedWords(this.path);
    for (let i = 0; i < 16; i += 1) this.u32();
  }

  /** An independent generator for a named sub-stream (see the file comment). */
  child(label: string): Prng {
    return new Prng(this.path[0]!, ...(this.path.slice(1) as string[]), label);
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    // sfc32 step (PractRand's sfc32: a += b, etc.), all in 32-bit arithmetic.
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of precision. */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32 (bias below 2^-32 · n, negligible here). */
  int(n: number): number {
    if (!(n >= 1) || n > 4294967296 || !Number.isInteger(n)) throw new RangeError(`Prng.int: bad bound ${n}`);
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive); hi - lo + 1 up to 2^53 via two draws. */
  range(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) throw new RangeError(`Prng.range: bad range ${lo}..${hi}`);
    const span = hi - lo + 1;
    if (span <= 4294967296) return lo + this.int(span);
    const x = this.u32() * 2 ** 21 + (this.u32() >>> 11); // 53 random bits
    return lo + (x % span);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniform 64-bit value. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Prng.pick: empty list');
    return items[this.int(items.length)]!;
  }

  /** Index drawn with probability proportional to `weights[i]` (all >= 0, sum > 0). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    if (!(total > 0)) throw new RangeError('Prng.weighted: weights sum to 0');
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i += 1) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** Fisher–Yates shuffle, in place; returns `items`. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i -= 1) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** Fill `bytes` with random bytes. */
  fill(bytes: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= bytes.length; i += 4) {
      const x = this.u32();
      bytes[i] = x;
      bytes[i + 1] = x >>> 8;
      bytes[i + 2] = x >>> 16;
      bytes[i + 3] = x >>> 24;
    }
    if (i < bytes.length) {
      let x = this.u32();
      for (; i < bytes.length; i += 1, x >>>= 8) bytes[i] = x;
    }
    return bytes;
  }
}
