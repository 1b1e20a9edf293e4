// The reference evaluator is the specification, so it gets hand-worked cases
// of its own: the property tests only prove the native matcher agrees with it.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import type { Constraint, Program } from '../src/signatures/program.js';
import { constraintHolds, evaluateAt, readField, scanReference } from '../src/signatures/reference.js';

function bytesOf(...parts: number[][]): Uint8Array {
  return Uint8Array.from(parts.flat());
}
const le64 = (v: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
const le32 = (v: bigint): number[] => le64(v).slice(0, 4);
const holds = (bytes: Uint8Array, c: Constraint, limit = bytes.length): boolean => constraintHolds(bytes, 0, limit, c);

describe('reference evaluator', () => {
  it('reads fields little-endian', () => {
    const b = bytesOf([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88]);
    expect(readField(b, 0, 1)).toBe(0x01n);
    expect(readField(b, 1, 2)).toBe(0x0302n);
    expect(readField(b, 0, 4)).toBe(0x04030201n);
    expect(readField(b, 0, 8)).toBe(0x8807060504030201n);
  });

  it('eq, ne, mask, range, set, aligned on their fields', () => {
    const b = bytesOf(le64(0x1234n), le32(0xfffffff0n));
    expect(holds(b, { kind: 'eq', offset: 0, width: 8, value: 0x1234n })).toBe(true);
    expect(holds(b, { kind: 'eq', offset: 0, width: 2, value: 0x1234n })).toBe(true);
    expect(holds(b, { kind: 'eq', offset: 0, width: 1, value: 0x1234n })).toBe(false);
    expect(holds(b, { kind: 'ne', offset: 0, width: 8, value: 0x1234n })).toBe(false);
    expect(holds(b, { kind: 'ne', offset: 8, width: 4, value: 0n })).toBe(true);
    expect(holds(b, { kind: 'mask', offset: 8, width: 4, mask: 0xf000000fn, value: 0xf0000000n })).toBe(true);
    expect(holds(b, { kind: 'mask', offset: 8, width: 4, mask: 0xfn, value: 0x1n })).toBe(false);
    expect(holds(b, { kind: 'range', offset: 0, width: 8, min: 0x1234n, max: 0x1234n })).toBe(true);
    expect(holds(b, { kind: 'range', offset: 0, width: 8, min: 0x1235n, max: 0xffffn })).toBe(false);
    // Range is unsigned: 0xfffffff0 is large, not negative.
    expect(holds(b, { kind: 'range', offset: 8, width: 4, min: 0n, max: 0x7fffffffn })).toBe(false);
    expect(holds(b, { kind: 'set', offset: 0, width: 8, values: [1n, 0x1234n] })).toBe(true);
    expect(holds(b, { kind: 'set', offset: 0, width: 8, values: [1n, 2n] })).toBe(false);
    expect(holds(b, { kind: 'aligned', offset: 8, width: 4, alignment: 16n })).toBe(true);
    expect(holds(b, { kind: 'aligned', offset: 8, width: 4, alignment: 32n })).toBe(false);
  });

  it('kernel pointers: the lowest kernel-half address of each mode, and null', () => {
    const k4 = (v: bigint): boolean => holds(bytesOf(le64(v)), { kind: 'kptr', offset: 0, mode: 'x86-64-4' });
    const k5 = (v: bigint): boolean => holds(bytesOf(le64(v)), { kind: 'kptr', offset: 0, mode: 'x86-64-5' });
    expect(k4(0xffff_7fff_ffff_ffffn)).toBe(false);
    expect(k4(0xffff_8000_0000_0000n)).toBe(true);
    expect(k4(0xffff_ffff_ffff_ffffn)).toBe(true);
    expect(k4(0xff11_0000_0000_0000n)).toBe(false);
    expect(k5(0xfeff_ffff_ffff_ffffn)).toBe(false);
    expect(k5(0xff00_0000_0000_0000n)).toBe(true);
    expect(k5(0xffff_8880_0000_0000n)).toBe(true);
    expect(k4(0n)).toBe(false);
    // x86-32 reads 4 bytes: the upper half of the u64 below is not looked at.
    const b32 = bytesOf(le64(0x1234_5678_8000_0000n));
    expect(holds(b32, { kind: 'kptr', offset: 0, mode: 'x86-32' })).toBe(true);
    expect(holds(bytesOf(le32(0x7fff_ffffn)), { kind: 'kptr', offset: 0, mode: 'x86-32' })).toBe(false);
    expect(holds(bytesOf(le64(0n)), { kind: 'kptr_or_null', offset: 0, mode: 'x86-64-4' })).toBe(true);
    expect(holds(bytesOf(le64(1n)), { kind: 'kptr_or_null', offset: 0, mode: 'x86-64-4' })).toBe(false);
    expect(holds(bytesOf(le32(0n)), { kind: 'kptr_or_null', offset: 0, mode: 'x86-32' })).toBe(true);
  });

  it('strings: k printable bytes then NUL, minLength <= k < maxLength', () => {
    const text = (s: string, pad = 16): Uint8Array => {
      const b = new Uint8Array(pad);
      b.set(Array.from(s, (ch) => ch.charCodeAt(0)));
      return b;
    };
    const str = (minLength: number, maxLength: number): Constraint => ({ kind: 'string', offset: 0, minLength, maxLength });
    expect(holds(text('bash\0'), str(1, 16))).toBe(true);
    expect(holds(text('bash\0'), str(4, 16))).toBe(true);
    expect(holds(text('bash\0'), str(5, 16))).toBe(false);
    expect(holds(text('bash\0'), str(0, 5))).toBe(true); // NUL at the last byte of the field
    expect(holds(text('bash\0'), str(0, 4))).toBe(false); // no NUL within 4 bytes
    expect(holds(text('\0'), str(0, 16))).toBe(true); // the empty string
    expect(holds(text('\0'), str(1, 16))).toBe(false);
    expect(holds(text('ba\x7fh\0'), str(1, 16))).toBe(false); // DEL is not printable
    expect(holds(text('ba\x1fh\0'), str(1, 16))).toBe(false);
    expect(holds(text('~ \0'), str(1, 16))).toBe(true); // 0x7e and 0x20 are
    // The whole field must lie below the limit, even when the NUL comes early.
    expect(holds(text('bash\0'), str(1, 16), 15)).toBe(false);
    expect(holds(text('bash\0'), str(1, 15), 15)).toBe(true);
  });

  it('a field that reaches past the limit makes its constraint false, whatever the kind', () => {
    const b = bytesOf(le64(0n), le64(0n));
    expect(holds(b, { kind: 'eq', offset: 8, width: 8, value: 0n }, 16)).toBe(true);
    expect(holds(b, { kind: 'eq', offset: 8, width: 8, value: 0n }, 15)).toBe(false);
    expect(holds(b, { kind: 'ne', offset: 8, width: 8, value: 1n }, 15)).toBe(false);
    expect(holds(b, { kind: 'kptr_or_null', offset: 12, mode: 'x86-32' }, 16)).toBe(true);
    expect(holds(b, { kind: 'kptr_or_null', offset: 12, mode: 'x86-32' }, 15)).toBe(false);
  });

  it('a candidate matches when every constraint holds', () => {
    const program: Program = {
      alignment: 8,
      constraints: [
        { kind: 'eq', offset: 0, width: 4, value: 7n },
        { kind: 'kptr', offset: 8, mode: 'x86-64-4' },
      ],
    };
    const b = bytesOf(le64(7n), le64(0xffff_8880_0000_1000n), le64(7n), le64(0x1000n));
    expect(evaluateAt(b, 0, b.length, program)).toBe(true);
    expect(evaluateAt(b, 16, b.length, program)).toBe(false);
    expect(evaluateAt(b, 0, 15, program)).toBe(false);
  });

  it('candidates are start + k*alignment shifted by phase: (c - start + phase) % alignment == 0', () => {
    const b = new Uint8Array(64);
    const any: Program = { alignment: 8, constraints: [{ kind: 'range', offset: 0, width: 1, min: 0n, max: 255n }] };
    expect(scanReference(b, any, { start: 3, end: 40, limit: 64, phase: 1 })).toEqual([10, 18, 26, 34]);
    expect(scanReference(b, any, { start: 3, end: 40, limit: 64, phase: 5 })).toEqual([6, 14, 22, 30, 38]);
    expect(scanReference(b, any, { start: 3, end: 40, limit: 64, phase: 13 })).toEqual([6, 14, 22, 30, 38]);
    expect(scanReference(b, any, { start: 0, end: 64, limit: 64, phase: 0 })).toEqual([0, 8, 16, 24, 32, 40, 48, 56]);
    expect(scanReference(b, any, { start: 5, end: 5, limit: 64, phase: 0 })).toEqual([]);
    // end is exclusive; limit bounds what may be read.
    expect(scanReference(b, any, { start: 0, end: 56, limit: 64, phase: 0 })).toEqual([0, 8, 16, 24, 32, 40, 48]);
    const wide: Program = { alignment: 8, constraints: [{ kind: 'range', offset: 0, width: 2, min: 0n, max: 0xffffn }] };
    expect(scanReference(b, wide, { start: 40, end: 57, limit: 58, phase: 0 })).toEqual([40, 48, 56]);
    expect(scanReference(b, wide, { start: 40, end: 57, limit: 57, phase: 0 })).toEqual([40, 48]);
  });

  it('rejects malformed windows with UsageErrors naming the field', () => {
    const p: Program = { alignment: 1, constraints: [{ kind: 'eq', offset: 0, width: 1, value: 0n }] };
    const b = new Uint8Array(16);
    const bad = (w: unknown): unknown => () => scanReference(b, p, w as never);
    expect(bad({ start: 8, end: 4, limit: 16, phase: 0 })).toThrow(
      new UsageError('window.end (0x4) must not be less than window.start (0x8)'),
    );
    expect(bad({ start: 0, end: 8, limit: 4, phase: 0 })).toThrow(
      new UsageError('window.limit (0x4) must not be less than window.end (0x8)'),
    );
    expect(bad({ start: -1, end: 8, limit: 8, phase: 0 })).toThrow(
      new UsageError('window.start must be a non-negative safe integer (got -1)'),
    );
    expect(bad({ start: 0, end: 8, limit: 17, phase: 0 })).toThrow(
      new UsageError('scan window [0x0, 0x8) reads up to 0x11, past the end of the buffer (0x10 bytes)'),
    );
  });
});
