// fast-check generators for constraint programs and for buffers in which a
// good share of candidates match: the buffer looks like kernel memory (zeros,
// small integers, kernel pointers, short strings) and at random candidates the
// generator plants the values each constraint asks for.
import fc from 'fast-check';
import type { Constraint, PointerMode, Program, ScanWindow, Width } from '../../src/signatures/program.js';
import { constraintSpan, programSpan } from '../../src/signatures/program.js';
import { KERNEL_BASE } from '../../src/signatures/reference.js';
import { firstCandidate } from '../../src/signatures/window.js';

export const maxOf = (width: Width): bigint => (1n << BigInt(8 * width)) - 1n;

/** A small deterministic PRNG (xorshift32) so one seed rebuilds a buffer. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** Uniform in [lo, hi] (bigint, hi - lo < 2^64). */
  between(lo: bigint, hi: bigint): bigint {
    return lo + (this.u64() % (hi - lo + 1n));
  }
}

const widthArb = fc.constantFrom<Width>(1, 2, 4, 8);
const wideArb = fc.constantFrom<Width>(4, 8);
const modeArb = fc.constantFrom<PointerMode>('x86-64-4', 'x86-64-5', 'x86-32');
const offsetArb = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 48 }), weight: 4 }, fc.integer({ min: 0, max: 300 }));

function valueOf(width: Width): fc.Arbitrary<bigint> {
  const max = maxOf(width);
  return fc.oneof(
    fc.bigInt({ min: 0n, max }),
    fc.constantFrom(0n, 1n, max, max >> 1n),
    fc.bigInt({ min: 0n, max: 255n }),
  );
}

function withWidth(w: fc.Arbitrary<Width>): fc.Arbitrary<Constraint> {
  return fc.oneof(
    fc.record({ kind: fc.constant('eq' as const), offset: offsetArb, w }).chain(({ offset, w: width }) =>
      valueOf(width).map((value): Constraint => ({ kind: 'eq', offset, width, value })),
    ),
    fc.record({ offset: offsetArb, w }).chain(({ offset, w: width }) =>
      valueOf(width).map((value): Constraint => ({ kind: 'ne', offset, width, value })),
    ),
    fc.record({ offset: offsetArb, w }).chain(({ offset, w: width }) =>
      fc
        .tuple(valueOf(width), valueOf(width))
        .map(([mask, v]): Constraint => ({ kind: 'mask', offset, width, mask, value: v & mask })),
    ),
    fc.record({ offset: offsetArb, w }).chain(({ offset, w: width }) =>
      fc.tuple(valueOf(width), valueOf(width)).map(([a, b]): Constraint => ({
        kind: 'range',
        offset,
        width,
        min: a < b ? a : b,
        max: a < b ? b : a,
      })),
    ),
    fc.record({ offset: offsetArb, w }).chain(({ offset, w: width }) =>
      fc
        .integer({ min: 0, max: 8 * width - 1 })
        .map((k): Constraint => ({ kind: 'aligned', offset, width, alignment: 1n << BigInt(k) })),
    ),
  );
}

const setArb: fc.Arbitrary<Constraint> = fc.record({ offset: offsetArb, w: widthArb }).chain(({ offset, w }) =>
  fc
    .oneof({ arbitrary: fc.array(valueOf(w), { minLength: 1, maxLength: 6 }), weight: 4 }, fc.array(valueOf(w), { minLength: 1, maxLength: 64 }))
    .map((values): Constraint => ({ kind: 'set', offset, width: w, values })),
);

const kptrArb: fc.Arbitrary<Constraint> = fc
  .record({ kind: fc.constantFrom('kptr' as const, 'kptr_or_null' as const), offset: offsetArb, mode: modeArb })
  .map((c): Constraint => c);

const stringArb: fc.Arbitrary<Constraint> = fc
  .record({ offset: offsetArb, maxLength: fc.integer({ min: 1, max: 24 }), minPick: fc.nat() })
  .map(({ offset, maxLength, minPick }): Constraint => ({
    kind: 'string',
    offset,
    minLength: minPick % maxLength,
    maxLength,
  }));

export const constraintArb: fc.Arbitrary<Constraint> = fc.oneof(
  { arbitrary: withWidth(widthArb), weight: 5 },
  { arbitrary: setArb, weight: 2 },
  { arbitrary: kptrArb, weight: 2 },
  { arbitrary: stringArb, weight: 2 },
);

/** Prefilters: mostly u32/u64 tests the vector path takes, sometimes anything. */
const prefilterArb: fc.Arbitrary<Constraint> = fc.oneof(
  { arbitrary: withWidth(wideArb), weight: 4 },
  { arbitrary: kptrArb, weight: 2 },
  { arbitrary: constraintArb, weight: 2 },
);

/** Single-constraint programs the vector pass takes: u32/u64 prefilters, alignment >= width. */
export const vectorProgramArb: fc.Arbitrary<Program> = fc
  .record({
    first: fc.oneof(withWidth(wideArb), kptrArb),
    alignment: fc.constantFrom(4, 8, 16, 32, 64, 128, 256, 4096),
  })
  .map(({ first, alignment }) => ({ alignment: Math.max(alignment, constraintSpan(first)), constraints: [first] }));

export const alignmentArb = fc.oneof(
  { arbitrary: fc.constantFrom(4, 8, 16, 32), weight: 6 },
  { arbitrary: fc.constantFrom(1, 2, 64, 128, 256, 4096), weight: 3 },
);

export const programArb: fc.Arbitrary<Program> = fc
  .record({
    alignment: alignmentArb,
    first: prefilterArb,
    rest: fc.array(constraintArb, { maxLength: 5 }),
  })
  .map(({ alignment, first, rest }) => ({ alignment, constraints: [first, ...rest] }));

/** A value the constraint accepts, written little-endian at `at`. */
export function plant(bytes: Uint8Array, at: number, c: Constraint, rng: Rng): void {
  const put = (v: bigint, width: number): void => {
    for (let i = 0; i < width && at + i < bytes.length; i++) bytes[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  };
  switch (c.kind) {
    case 'eq':
      return put(c.value, c.width);
    case 'ne':
      return put(c.value ^ (rng.between(1n, maxOf(c.width))), c.width);
    case 'mask':
      return put(c.value | (rng.u64() & ~c.mask & maxOf(c.width)), c.width);
    case 'range':
      return put(rng.between(c.min, c.max), c.width);
    case 'set':
      return put(c.values[rng.below(c.values.length)]!, c.width);
    case 'aligned':
      return put(rng.u64() & maxOf(c.width) & ~(c.alignment - 1n), c.width);
    case 'kptr':
    case 'kptr_or_null': {
      const width = c.mode === 'x86-32' ? 4 : 8;
      const zero = c.kind === 'kptr_or_null' && rng.below(3) === 0;
      return put(zero ? 0n : rng.between(KERNEL_BASE[c.mode], maxOf(width)), width);
    }
    case 'string': {
      const len = c.minLength + rng.below(c.maxLength - c.minLength);
      for (let i = 0; i < len && at + i < bytes.length; i++) bytes[at + i] = 0x20 + rng.below(0x5f);
      if (at + len < bytes.length) bytes[at + len] = 0;
      return;
    }
  }
}

/** Bytes that look like kernel memory: mostly zeros, small ints, kernel pointers, some text. */
export function kernelLikeBytes(size: number, rng: Rng): Uint8Array {
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  for (let at = 0; at + 8 <= size; at += 8) {
    const r = rng.below(100);
    if (r < 45) continue;
    if (r < 65) dv.setBigUint64(at, BigInt(rng.below(1 << 16)), true);
    else if (r < 80) dv.setBigUint64(at, 0xffff_8880_0000_0000n + (BigInt(rng.u32()) << 3n), true);
    else if (r < 85) dv.setBigUint64(at, 0xff11_0000_0000_0000n + (rng.u64() & 0xffff_ffff_fff8n), true);
    else if (r < 90) for (let i = 0; i < 8; i++) bytes[at + i] = 0x61 + rng.below(26);
    else dv.setBigUint64(at, rng.u64(), true);
  }
  for (let at = size & ~7; at < size; at++) bytes[at] = rng.below(256);
  return bytes;
}

/** Plants full matches of `program` at `count` random candidates of `window`. */
export function plantMatches(bytes: Uint8Array, program: Program, window: ScanWindow, count: number, rng: Rng): void {
  const first = firstCandidate(window, program.alignment);
  if (first >= window.end) return;
  const candidates = Math.ceil((window.end - first) / program.alignment);
  for (let i = 0; i < count; i++) {
    const c = first + rng.below(candidates) * program.alignment;
    for (const k of program.constraints) plant(bytes, c + k.offset, k, rng);
  }
}

export interface Scenario {
  program: Program;
  bytes: Uint8Array;
  window: ScanWindow;
}

/**
 * A program, a buffer, and a window whose start, end and limit are anywhere
 * (unaligned); the limit is the end of the buffer, anywhere past the end, or
 * less than a span past the end.
 */
export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    program: programArb,
    size: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 6000 }), weight: 4 }, fc.integer({ min: 0, max: 40000 })),
    seed: fc.integer(),
    plants: fc.integer({ min: 0, max: 24 }),
    cuts: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
    limitMode: fc.constantFrom('end-of-buffer', 'anywhere', 'within-span'),
    slack: fc.nat(),
    phase: fc.nat({ max: 10000 }),
  })
  .map(({ program, size, seed, plants, cuts, limitMode, slack, phase }) => {
    const rng = new Rng(seed);
    const bytes = kernelLikeBytes(size, rng);
    const [a, b, c] = cuts.map((x) => x % (size + 1)).sort((x, y) => x - y) as [number, number, number];
    // 'within-span' puts the limit less than a span past the end, so the last
    // candidates' fields straddle it.
    const limit =
      limitMode === 'end-of-buffer' ? size : limitMode === 'anywhere' ? c : Math.min(size, b + (slack % programSpan(program)));
    const window: ScanWindow = { start: a, end: b, limit, phase };
    plantMatches(bytes, program, window, plants, rng);
    return { program, bytes, window };
  });

export { programSpan };
