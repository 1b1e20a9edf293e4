// Value invariants per slot, inferred from the positives (live and hidden objects):
//
//   eq        every positive has the same value
//   nonzero   no positive is zero (`ne 0`)
//   mask      the bits every positive agrees on (mask-equals), when some but not all agree
//   aligned   the largest power of two dividing every value (from 2)
//   range     [min - m, max + m] with m = ceil((max - min) / 2) + 1: the observed span
//             widened by half its width on each side, clipped to the field. Not learned
//             for kernel pointers (their regions do it) nor when it would cover half the
//             field's values or more (then it says nothing)
//   set       2..64 distinct values, at most half as many as positives (else it is a list
//             of the training values, not an invariant)
//   kptr, kptr_or_null   pointer class: every value a kernel pointer (or null)
//   region    every value inside one fixed address region narrower than the kernel half
//             (kernel image, KASLR data window, modules, user space; ./pointer-shape.ts)
//   string    a printable NUL-terminated name in a char array, of the shortest length seen
//
// Support is the share of positives that satisfy a candidate: 1 for everything
// inferred above by construction. Pointer classes and names that most but not all
// positives satisfy are listed too (support < 1), for the report; they are never chosen.
//
// Per-boot values (the same on every object of an image, different between images: a
// KASLR'd address, a boot-time cookie) give one sample per image, too few to trust
// which of their bits or values are fixed; they only get the families that rest on the
// OS's address layout or on every value (nonzero, aligned, pointer class, region).
// For the same reason a mask is never learned over a field that holds kernel pointers.
//
// Stability (leave-one-image-out): a candidate is stable when, for every training
// image, the same family learned from the other images exists and holds on every
// positive of that image. Constants that move with KASLR, ranges that do not
// generalise and sets that only list training values fail it.
import type { Constraint, Width } from '../signatures/program.js';
import type { ConstraintSpec } from '../signatures/format.js';
import type { AddressRegion, PointerShape } from './pointer-shape.js';
import { narrowestRegion } from './pointer-shape.js';
import type { Slot, StringField } from './slots.js';
import { type StringSummary, type Summary, MAX_DISTINCT, fullMask, mergeStringSummaries, mergeSummaries } from './value-summary.js';

export type Family = 'eq' | 'nonzero' | 'mask' | 'aligned' | 'range' | 'set' | 'kptr' | 'kptr_or_null' | 'region' | 'string';

/** Families a per-boot value may have (see above). */
export const PER_BOOT_FAMILIES: ReadonlySet<Family> = new Set(['nonzero', 'aligned', 'kptr', 'kptr_or_null', 'region']);

/** Same value on every positive of each image, but not the same in all images. */
export function isPerBoot(perImage: readonly Summary[]): boolean {
  const used = perImage.filter((s) => s.n > 0);
  return used.length >= 2 && used.every((s) => s.min === s.max) && used.some((s) => s.min !== used[0]!.min);
}

export const FAMILIES: readonly Family[] = ['eq', 'nonzero', 'mask', 'aligned', 'range', 'set', 'kptr', 'kptr_or_null', 'region', 'string'];

export interface Candidate {
  id: number;
  family: Family;
  /** The slot (numeric families) or char array (string). */
  slot?: Slot;
  str?: StringField;
  /** Member paths the constraint reads (path and union aliases). */
  paths: string[];
  spec: ConstraintSpec;
  constraint: Constraint;
  support: number;
  /** Share of exited objects that satisfy it (undefined when there are none). */
  exitedSupport?: number;
  /** False when it did not carry over to some held-out training image. */
  stable: boolean;
  unstableOn: string[];
  /** Share of random negatives that satisfy it. */
  negativeRate?: number;
  /** Why it may not be a required constraint, if so. */
  excluded?: string;
  robustness?: 'robust' | 'fragile' | 'unknown';
  /** Relative cost per tested offset (see ./select.ts). */
  cost: number;
  /** The native matcher can run it as a SIMD prefilter. */
  simd: boolean;
  /** How it was learned, for the report. */
  note: string;
}

export interface InferOptions {
  shape: PointerShape;
  /** Bits of a slot an attacker controls (cleared from masks), by slot offset. */
  attackerBits?: Map<number, bigint>;
}

type Params = { c: Constraint; note: string };

const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

/** Learn one family from a summary; undefined when the data does not support it. */
export function inferFamily(family: Family, s: Summary, slot: Slot, opt: InferOptions): Params | undefined {
  if (s.n === 0) return undefined;
  const { offset, width } = slot;
  const full = fullMask(width);
  const isPtrWidth = width === opt.shape.width;
  const allKernelOrNull = isPtrWidth && s.kernel + s.zeros === s.n && s.kernel > 0;
  switch (family) {
    case 'eq':
      return s.min === s.max ? { c: { kind: 'eq', offset, width, value: s.min }, note: `every positive holds ${hexOf(s.min)}` } : undefined;
    case 'nonzero':
      return s.zeros === 0 && s.min !== s.max ? { c: { kind: 'ne', offset, width, value: 0n }, note: 'no positive is zero' } : undefined;
    case 'mask': {
      // The high bits of kernel pointers move with KASLR: agreeing across a few boots is
      // chance. So no mask over a field that holds a kernel pointer in any positive (also
      // when others hold LIST_POISON or small values there).
      if (s.kernel > 0) return undefined;
      let fixed = (s.and | (~s.or & full)) & full;
      const bits = opt.attackerBits?.get(offset);
      if (bits !== undefined) fixed &= ~bits;
      if (fixed === 0n || fixed === full) return undefined;
      const value = s.and & fixed;
      const cleared = bits !== undefined ? `, attacker bits ${hexOf(bits)} left out` : '';
      return { c: { kind: 'mask', offset, width, mask: fixed, value }, note: `bits ${hexOf(fixed)} equal on every positive${cleared}` };
    }
    case 'aligned': {
      if (s.min === s.max || s.tz < 1 || s.tz >= width * 8) return undefined;
      const alignment = 1n << BigInt(s.tz);
      return { c: { kind: 'aligned', offset, width, alignment }, note: `every value is a multiple of ${alignment}` };
    }
    case 'range': {
      if (s.min === s.max || allKernelOrNull) return undefined;
      const margin = (s.max - s.min + 1n) / 2n + 1n;
      const min = s.min > margin ? s.min - margin : 0n;
      const max = full - s.max > margin ? s.max + margin : full;
      if (max - min >= full / 2n) return undefined;
      return { c: { kind: 'range', offset, width, min, max }, note: `observed ${hexOf(s.min)}..${hexOf(s.max)}, widened by ${margin} each side` };
    }
    case 'set': {
      const d = s.distinct;
      if (d === null || d.size < 2 || d.size > MAX_DISTINCT || d.size * 2 > s.n) return undefined;
      const values = [...d].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return { c: { kind: 'set', offset, width, values }, note: `${d.size} distinct values over ${s.n} positives` };
    }
    case 'kptr':
      return isPtrWidth && s.kernel === s.n ? { c: { kind: 'kptr', offset, mode: opt.shape.mode }, note: 'every value is a kernel pointer' } : undefined;
    case 'kptr_or_null':
      return allKernelOrNull && s.zeros > 0
        ? { c: { kind: 'kptr_or_null', offset, mode: opt.shape.mode }, note: `${s.kernel} kernel pointers, ${s.zeros} null` }
        : undefined;
    case 'region': {
      if (!isPtrWidth || s.zeros > 0) return undefined;
      const r = narrowestRegion(opt.shape, s.min, s.max);
      if (r === undefined || r.name === 'kernel') return undefined;
      return { c: { kind: 'range', offset, width, min: r.min, max: r.max }, note: regionNote(r) };
    }
    case 'string':
      return undefined;
  }
}

function regionNote(r: AddressRegion): string {
  return `every value in the ${r.name} region ${hexOf(r.min)}..${hexOf(r.max)} (${r.note})`;
}

/** Does every value the summary describes satisfy c? (exact, from the summary alone) */
export function summaryHolds(c: Constraint, s: Summary): boolean {
  if (s.n === 0) return true;
  switch (c.kind) {
    case 'eq':
      return s.min === c.value && s.max === c.value;
    case 'ne':
      return c.value === 0n ? s.zeros === 0 : !(s.min === c.value && s.max === c.value) && (s.distinct === null || !s.distinct.has(c.value));
    case 'mask':
      return (s.and & c.mask) === c.value && (s.or & c.mask) === c.value;
    case 'aligned':
      return s.tz >= bitLength(c.alignment) - 1;
    case 'range':
      return s.min >= c.min && s.max <= c.max;
    case 'set':
      return s.distinct !== null && [...s.distinct].every((v) => c.values.includes(v));
    case 'kptr':
      return s.kernel === s.n;
    case 'kptr_or_null':
      return s.kernel + s.zeros === s.n;
    case 'string':
      return false;
  }
}

function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/**
 * Families that hold on the positives of every image when learned from the others.
 * `perImage` has one summary per training image (empty ones are skipped).
 */
export function unstableImages(family: Family, perImage: readonly Summary[], slot: Slot, opt: InferOptions): number[] {
  const used = perImage.map((s, i) => ({ s, i })).filter((x) => x.s.n > 0);
  if (used.length < 2) return [];
  const bad: number[] = [];
  for (const { s, i } of used) {
    const rest = mergeSummaries(
      used.filter((x) => x.i !== i).map((x) => x.s),
      slot.width,
    );
    const p = inferFamily(family, rest, slot, opt);
    if (p === undefined || !summaryHolds(p.c, s)) bad.push(i);
  }
  return bad;
}

/** The string family for a char array: learned, and the images it did not carry over to. */
export function inferString(str: StringField, perImage: readonly StringSummary[]): { c: Constraint; note: string; support: number; unstable: number[] } | undefined {
  const all = mergeStringSummaries(perImage);
  if (all.valid === 0) return undefined;
  const c: Constraint = { kind: 'string', offset: str.offset, minLength: Math.min(all.minLength, str.size - 1), maxLength: str.size };
  const unstable: number[] = [];
  const used = perImage.map((s, i) => ({ s, i })).filter((x) => x.s.n > 0);
  if (used.length >= 2) {
    for (const { s, i } of used) {
      const rest = mergeStringSummaries(used.filter((x) => x.i !== i).map((x) => x.s));
      if (rest.valid !== rest.n || s.valid !== s.n || s.minLength < rest.minLength) unstable.push(i);
    }
  }
  const note = `printable NUL-terminated name of at least ${c.minLength} characters in ${all.valid} of ${all.n} positives`;
  return { c, note, support: all.valid / all.n, unstable };
}

/** The spec (file form) of a constraint on a slot. */
export function specOf(c: Constraint, slot: Slot | StringField): ConstraintSpec {
  const isSlot = 'width' in slot;
  const base: { field: string; byte?: number; width?: Width } = { field: slot.path };
  if (isSlot && slot.byte !== undefined) {
    base.byte = slot.byte;
    base.width = slot.width;
  } else if (isSlot && slot.width !== slot.leaf.size) base.width = slot.width;
  switch (c.kind) {
    case 'eq':
    case 'ne':
      return { ...base, kind: c.kind, value: hexOf(c.value) };
    case 'mask':
      return { ...base, kind: 'mask', mask: hexOf(c.mask), value: hexOf(c.value) };
    case 'range':
      return { ...base, kind: 'range', min: hexOf(c.min), max: hexOf(c.max) };
    case 'set':
      return { ...base, kind: 'set', values: c.values.map(hexOf) };
    case 'aligned':
      return { ...base, kind: 'aligned', alignment: hexOf(c.alignment) };
    case 'kptr':
    case 'kptr_or_null':
      return { ...base, kind: c.kind };
    case 'string':
      return { field: slot.path, kind: 'string', minLength: c.minLength, maxLength: c.maxLength };
  }
}

/** Relative cost per tested offset, and whether the native matcher can run it as its SIMD prefilter. */
export function costOf(c: Constraint, pointerWidth: number): { cost: number; simd: boolean } {
  switch (c.kind) {
    case 'kptr':
    case 'kptr_or_null':
      return { cost: 1, simd: pointerWidth === 4 || pointerWidth === 8 };
    case 'string':
      return { cost: 2 + c.maxLength / 4, simd: false };
    case 'set':
      return { cost: 1 + c.values.length / 8, simd: false };
    default:
      return { cost: c.width >= 4 ? 1 : 1.5, simd: c.width === 4 || c.width === 8 };
  }
}
