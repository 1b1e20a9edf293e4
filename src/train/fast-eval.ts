// A constraint as a fast test over a window buffer, for the tens of thousands of
// negatives the trainer checks every candidate against. The reference evaluator
// (../signatures/reference.ts) reads fields as bigint, which is exact but slow; here
// 8-byte fields are two 32-bit halves compared as numbers. A property test holds this
// to constraintHolds() for every constraint kind (test/train/fast-eval.test.ts).
//
// Windows always hold the whole object, so the reference's "field past the limit"
// case cannot arise here.
import type { Constraint } from '../signatures/program.js';
import { KERNEL_BASE } from '../signatures/reference.js';
import type { WindowSet } from './windows.js';

/** (view, at) → does the constraint hold for the candidate whose window starts at byte `at`? */
export type FastTest = (view: DataView, at: number) => boolean;

const hiOf = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);
const loOf = (v: bigint): number => Number(v & 0xffff_ffffn);

/** Unsigned read of 1, 2 or 4 bytes. */
function small(view: DataView, at: number, width: 1 | 2 | 4): number {
  return width === 1 ? view.getUint8(at) : width === 2 ? view.getUint16(at, true) : view.getUint32(at, true);
}

export function fastTest(c: Constraint): FastTest {
  switch (c.kind) {
    case 'kptr':
    case 'kptr_or_null': {
      const orNull = c.kind === 'kptr_or_null';
      const o = c.offset;
      if (c.mode === 'x86-32') {
        const base = Number(KERNEL_BASE['x86-32']);
        return (v, at) => {
          const x = v.getUint32(at + o, true);
          return x >= base || (orNull && x === 0);
        };
      }
      const baseHi = hiOf(KERNEL_BASE[c.mode]);
      return (v, at) => {
        const hi = v.getUint32(at + o + 4, true);
        if (hi >= baseHi) return true; // KERNEL_BASE has a zero low half in both 64-bit modes
        return orNull && hi === 0 && v.getUint32(at + o, true) === 0;
      };
    }
    case 'string': {
      const { offset: o, minLength, maxLength } = c;
      return (v, at) => {
        for (let i = 0; i < maxLength; i += 1) {
          const ch = v.getUint8(at + o + i);
          if (ch === 0) return i >= minLength;
          if (ch < 0x20 || ch > 0x7e) return false;
        }
        return false;
      };
    }
    default:
      return c.width === 8 ? wide(c) : narrow(c);
  }
}

type NumericConstraint = Exclude<Constraint, { kind: 'kptr' | 'kptr_or_null' | 'string' }>;

function narrow(c: NumericConstraint): FastTest {
  const o = c.offset;
  const w = c.width as 1 | 2 | 4;
  switch (c.kind) {
    case 'eq': {
      const x = Number(c.value);
      return (v, at) => small(v, at + o, w) === x;
    }
    case 'ne': {
      const x = Number(c.value);
      return (v, at) => small(v, at + o, w) !== x;
    }
    case 'mask': {
      const m = Number(c.mask);
      const x = Number(c.value);
      return (v, at) => (small(v, at + o, w) & m) >>> 0 === x;
    }
    case 'range': {
      const lo = Number(c.min);
      const hi = Number(c.max);
      return (v, at) => {
        const x = small(v, at + o, w);
        return x >= lo && x <= hi;
      };
    }
    case 'set': {
      const s = new Set(c.values.map(Number));
      return (v, at) => s.has(small(v, at + o, w));
    }
    case 'aligned': {
      // An alignment past the field's width only holds for zero.
      const m = c.alignment >= 1n << 32n ? 0xffff_ffff : Number(c.alignment - 1n);
      return (v, at) => (small(v, at + o, w) & m) >>> 0 === 0;
    }
  }
}

function wide(c: NumericConstraint): FastTest {
  const o = c.offset;
  const lo = (v: DataView, at: number): number => v.getUint32(at + o, true);
  const hi = (v: DataView, at: number): number => v.getUint32(at + o + 4, true);
  switch (c.kind) {
    case 'eq':
    case 'ne': {
      const xl = loOf(c.value);
      const xh = hiOf(c.value);
      const eq = c.kind === 'eq';
      return (v, at) => (lo(v, at) === xl && hi(v, at) === xh) === eq;
    }
    case 'mask': {
      const ml = loOf(c.mask);
      const mh = hiOf(c.mask);
      const xl = loOf(c.value);
      const xh = hiOf(c.value);
      return (v, at) => (lo(v, at) & ml) >>> 0 === xl && (hi(v, at) & mh) >>> 0 === xh;
    }
    case 'range': {
      const al = loOf(c.min);
      const ah = hiOf(c.min);
      const bl = loOf(c.max);
      const bh = hiOf(c.max);
      return (v, at) => {
        const h = hi(v, at);
        if (h < ah || h > bh) return false;
        const l = lo(v, at);
        if (h === ah && l < al) return false;
        if (h === bh && l > bl) return false;
        return true;
      };
    }
    case 'set': {
      const byHi = new Map<number, Set<number>>();
      for (const x of c.values) {
        const h = hiOf(x);
        let s = byHi.get(h);
        if (!s) byHi.set(h, (s = new Set()));
        s.add(loOf(x));
      }
      return (v, at) => byHi.get(hi(v, at))?.has(lo(v, at)) ?? false;
    }
    case 'aligned': {
      const a = c.alignment;
      const ml = a >= 1n << 32n ? 0xffff_ffff : Number(a - 1n);
      const mh = a > 1n << 32n ? hiOf(a - 1n) : 0;
      return (v, at) => (lo(v, at) & ml) >>> 0 === 0 && (hi(v, at) & mh) >>> 0 === 0;
    }
  }
}

/** A set of window indexes as a bitset. */
export type Bitset = Uint32Array;

export function bitsetOf(test: FastTest, w: WindowSet): Bitset {
  const out = new Uint32Array((w.count + 31) >>> 5);
  for (let i = 0; i < w.count; i += 1) if (test(w.view, i * w.size)) out[i >>> 5]! |= 1 << (i & 31);
  return out;
}

export function popcount(b: Bitset): number {
  let n = 0;
  for (let i = 0; i < b.length; i += 1) {
    let x = b[i]!;
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    n += (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}

/** Size of a AND b. */
export function andCount(a: Bitset, b: Bitset): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 1) {
    let x = a[i]! & b[i]!;
    if (x === 0) continue;
    x -= (x >>> 1) & 0x55555555;
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    n += (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}

export function andInto(a: Bitset, b: Bitset): void {
  for (let i = 0; i < a.length; i += 1) a[i]! &= b[i]!;
}

/** All windows set. */
export function fullBitset(count: number): Bitset {
  const out = new Uint32Array((count + 31) >>> 5).fill(0xffff_ffff);
  const tail = count & 31;
  if (tail !== 0) out[out.length - 1] = (1 << tail) - 1;
  return out;
}
