// What the positives of one image say about one slot, in a form that merges: min,
// max, AND and OR of the values, zeros, kernel pointers, distinct values (up to 65),
// trailing zero bits. Invariants are inferred from merged summaries, and checked
// against a held-out image's summary, which makes leave-one-image-out stability
// cheap (./invariants.ts).
import type { Width } from '../signatures/program.js';
import type { PointerShape } from './pointer-shape.js';
import { isKernelPointer } from './pointer-shape.js';

/** More distinct values than this and the summary stops counting them. */
export const MAX_DISTINCT = 64;

export interface Summary {
  n: number;
  min: bigint;
  max: bigint;
  and: bigint;
  or: bigint;
  zeros: number;
  /** Values that are kernel pointers for the shape (pointer-width slots only). */
  kernel: number;
  /** Values with the sign bit set (as a signed integer of the slot's width). */
  negative: number;
  /** Distinct values, or null past MAX_DISTINCT. */
  distinct: Set<bigint> | null;
  /** Fewest trailing zero bits over the non-zero values (width * 8 when all are zero). */
  tz: number;
}

export function fullMask(width: Width): bigint {
  return (1n << BigInt(width * 8)) - 1n;
}

function trailingZeros(v: bigint, bits: number): number {
  if (v === 0n) return bits;
  let n = 0;
  while ((v & 1n) === 0n) {
    v >>= 1n;
    n += 1;
  }
  return n;
}

export function emptySummary(width: Width): Summary {
  return { n: 0, min: fullMask(width), max: 0n, and: fullMask(width), or: 0n, zeros: 0, kernel: 0, negative: 0, distinct: new Set(), tz: width * 8 };
}

/** Add one value (unsigned, `width` bytes) to a summary. */
export function addValue(s: Summary, v: bigint, width: Width, shape: PointerShape): void {
  s.n += 1;
  if (v < s.min) s.min = v;
  if (v > s.max) s.max = v;
  s.and &= v;
  s.or |= v;
  if (v === 0n) s.zeros += 1;
  if (width === shape.width && isKernelPointer(shape, v)) s.kernel += 1;
  if (v >> BigInt(width * 8 - 1) === 1n) s.negative += 1;
  if (s.distinct !== null) {
    s.distinct.add(v);
    if (s.distinct.size > MAX_DISTINCT) s.distinct = null;
  }
  const tz = trailingZeros(v, width * 8);
  if (tz < s.tz) s.tz = tz;
}

export function mergeSummaries(parts: readonly Summary[], width: Width): Summary {
  const out = emptySummary(width);
  for (const p of parts) {
    if (p.n === 0) continue;
    out.n += p.n;
    if (p.min < out.min) out.min = p.min;
    if (p.max > out.max) out.max = p.max;
    out.and &= p.and;
    out.or |= p.or;
    out.zeros += p.zeros;
    out.kernel += p.kernel;
    out.negative += p.negative;
    if (out.distinct !== null) {
      if (p.distinct === null) out.distinct = null;
      else {
        for (const v of p.distinct) out.distinct.add(v);
        if (out.distinct.size > MAX_DISTINCT) out.distinct = null;
      }
    }
    if (p.tz < out.tz) out.tz = p.tz;
  }
  return out;
}

/** Little-endian unsigned value of `width` bytes at `at`. */
export function readValue(view: DataView, at: number, width: Width): bigint {
  switch (width) {
    case 1:
      return BigInt(view.getUint8(at));
    case 2:
      return BigInt(view.getUint16(at, true));
    case 4:
      return BigInt(view.getUint32(at, true));
    case 8:
      return view.getBigUint64(at, true);
  }
}

/** What the positives say about a char array: all printable NUL-terminated names, and the shortest. */
export interface StringSummary {
  n: number;
  valid: number;
  minLength: number;
}

/** Length of the printable NUL-terminated string at `at`, or -1 if there is none within `size` bytes. */
export function printableLength(view: DataView, at: number, size: number): number {
  for (let i = 0; i < size; i += 1) {
    const ch = view.getUint8(at + i);
    if (ch === 0) return i;
    if (ch < 0x20 || ch > 0x7e) return -1;
  }
  return -1;
}

export function mergeStringSummaries(parts: readonly StringSummary[]): StringSummary {
  const out: StringSummary = { n: 0, valid: 0, minLength: Number.MAX_SAFE_INTEGER };
  for (const p of parts) {
    out.n += p.n;
    out.valid += p.valid;
    if (p.n > 0) out.minLength = Math.min(out.minLength, p.minLength);
  }
  return out;
}
