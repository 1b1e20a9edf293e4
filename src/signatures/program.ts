// A constraint program: the value-invariant part of a signature, in the form the
// native matcher runs and the TypeScript reference evaluator (./reference.ts)
// specifies. Offsets are relative to the candidate's start. Fields are
// little-endian unsigned integers of 1, 2, 4 or 8 bytes; values are bigint.
//
// Semantics shared by every evaluator:
// - A candidate is an offset c with c % alignment == phase (see ScanWindow).
// - A constraint holds only if every byte it reads lies inside the readable
//   window [c, limit); a field past the limit makes the constraint false.
// - A candidate matches when all constraints hold. The first constraint is the
//   prefilter: it must be cheap and selective; the matcher may test it with SIMD.

export type Width = 1 | 2 | 4 | 8;

/** Address-space shape for kernel pointer tests. */
export type PointerMode =
  /** x86-64 4-level paging: kernel half is 0xffff8000_00000000 and up (bits 63..47 set). */
  | 'x86-64-4'
  /** x86-64 5-level paging: kernel half is 0xff000000_00000000 and up (bits 63..56 set). */
  | 'x86-64-5'
  /** 32-bit x86 (incl. PAE): kernel half is 0x80000000 and up; field width 4. */
  | 'x86-32';

export type Constraint =
  /** field == value */
  | { kind: 'eq'; offset: number; width: Width; value: bigint }
  /** field != value */
  | { kind: 'ne'; offset: number; width: Width; value: bigint }
  /** (field & mask) == value */
  | { kind: 'mask'; offset: number; width: Width; mask: bigint; value: bigint }
  /** min <= field <= max, unsigned, inclusive */
  | { kind: 'range'; offset: number; width: Width; min: bigint; max: bigint }
  /** field is one of values (at most 64 values) */
  | { kind: 'set'; offset: number; width: Width; values: bigint[] }
  /** field % alignment == 0; alignment a power of two */
  | { kind: 'aligned'; offset: number; width: Width; alignment: bigint }
  /** field is a canonical kernel-half pointer for the mode (width 8, or 4 for x86-32) */
  | { kind: 'kptr'; offset: number; mode: PointerMode }
  /** field is zero or a canonical kernel-half pointer */
  | { kind: 'kptr_or_null'; offset: number; mode: PointerMode }
  /**
   * A printable NUL-terminated string inside [offset, offset + maxLength): bytes
   * 0x20..0x7e for k bytes, then a NUL, with minLength <= k < maxLength.
   */
  | { kind: 'string'; offset: number; minLength: number; maxLength: number };

export type ConstraintKind = Constraint['kind'];

export interface Program {
  /** Candidates are taken every `alignment` bytes (a power of two, 1..4096). */
  alignment: number;
  /** Constraints, all of which must hold. constraints[0] is the prefilter. */
  constraints: Constraint[];
}

/** Where a scan of a byte range looks, in file offsets of the image. */
export interface ScanWindow {
  /** First file offset that may be a candidate. */
  start: number;
  /** Candidates are < end. */
  end: number;
  /** Fields may be read up to (not including) limit; limit >= end. */
  limit: number;
  /** Candidates c satisfy (c - start + phase) % alignment == 0. Phase aligns to physical addresses. */
  phase: number;
}

export function pointerWidth(mode: PointerMode): Width {
  return mode === 'x86-32' ? 4 : 8;
}

/** Number of bytes a constraint reads, starting at its offset. */
export function constraintSpan(c: Constraint): number {
  switch (c.kind) {
    case 'kptr':
    case 'kptr_or_null':
      return pointerWidth(c.mode);
    case 'string':
      return c.maxLength;
    default:
      return c.width;
  }
}

/** Bytes from the candidate's start to the end of the furthest field it reads. */
export function programSpan(p: Program): number {
  let span = 0;
  for (const c of p.constraints) span = Math.max(span, c.offset + constraintSpan(c));
  return span;
}
