// The reference evaluator: the specification of a constraint program
// (./program.ts), written to be read, not to be fast. The native matcher
// (native/src/matcher.cc) must return exactly what scanReference returns;
// property tests in test/native-matcher.test.ts hold it to that.
import type { Constraint, PointerMode, Program, ScanWindow, Width } from './program.js';
import { constraintSpan } from './program.js';
import { firstCandidate, validateBufferWindow } from './window.js';

/** Lowest kernel-half address of each pointer mode (see PointerMode). */
export const KERNEL_BASE: Readonly<Record<PointerMode, bigint>> = {
  // Bits 63..47 set: the upper canonical half with 48-bit virtual addresses.
  'x86-64-4': 0xffff_8000_0000_0000n,
  // Bits 63..56 set: the upper canonical half with 57-bit virtual addresses.
  'x86-64-5': 0xff00_0000_0000_0000n,
  // The upper 2 GiB of a 32-bit address space.
  'x86-32': 0x8000_0000n,
};

/** The little-endian unsigned integer of `width` bytes at `at`. */
export function readField(bytes: Uint8Array, at: number, width: Width): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]!);
  return v;
}

function isKernelPointer(v: bigint, mode: PointerMode): boolean {
  return v >= KERNEL_BASE[mode];
}

/** A printable NUL-terminated string of minLength..maxLength-1 characters at `at`. */
function isString(bytes: Uint8Array, at: number, minLength: number, maxLength: number): boolean {
  for (let i = 0; i < maxLength; i++) {
    const ch = bytes[at + i]!;
    if (ch === 0) return i >= minLength;
    if (ch < 0x20 || ch > 0x7e) return false;
  }
  return false; // no NUL within maxLength bytes
}

/**
 * Does one constraint hold for the candidate at `candidate`? Every byte the
 * constraint covers — its whole field, [offset, offset + constraintSpan) —
 * must lie below `limit`, or it does not hold. (For a string that is all
 * maxLength bytes, even when the NUL comes early.)
 */
export function constraintHolds(bytes: Uint8Array, candidate: number, limit: number, c: Constraint): boolean {
  const at = candidate + c.offset;
  if (at + constraintSpan(c) > limit) return false;
  switch (c.kind) {
    case 'eq':
      return readField(bytes, at, c.width) === c.value;
    case 'ne':
      return readField(bytes, at, c.width) !== c.value;
    case 'mask':
      return (readField(bytes, at, c.width) & c.mask) === c.value;
    case 'range': {
      const v = readField(bytes, at, c.width);
      return c.min <= v && v <= c.max;
    }
    case 'set':
      return c.values.includes(readField(bytes, at, c.width));
    case 'aligned':
      return readField(bytes, at, c.width) % c.alignment === 0n;
    case 'kptr':
      return isKernelPointer(readField(bytes, at, c.mode === 'x86-32' ? 4 : 8), c.mode);
    case 'kptr_or_null': {
      const v = readField(bytes, at, c.mode === 'x86-32' ? 4 : 8);
      return v === 0n || isKernelPointer(v, c.mode);
    }
    case 'string':
      return isString(bytes, at, c.minLength, c.maxLength);
  }
}

/**
 * Does the candidate at `candidate` match: do all constraints hold, reading
 * no byte at or past `limit`? (`limit` is at most bytes.length.)
 */
export function evaluateAt(bytes: Uint8Array, candidate: number, limit: number, program: Program): boolean {
  return program.constraints.every((c) => constraintHolds(bytes, candidate, limit, c));
}

/**
 * All matching candidates of `window` over `bytes`, ascending. Offsets are
 * indices into bytes. Window errors are UsageErrors, as for native scanBuffer.
 * The program is taken as valid (see validateProgram).
 */
export function scanReference(bytes: Uint8Array, program: Program, window: ScanWindow): number[] {
  const w = validateBufferWindow(window, bytes.length);
  const hits: number[] = [];
  for (let c = firstCandidate(w, program.alignment); c < w.end; c += program.alignment) {
    if (evaluateAt(bytes, c, w.limit, program)) hits.push(c);
  }
  return hits;
}
