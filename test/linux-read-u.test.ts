// readU (src/os/linux/task-layout.ts) reads little-endian unsigned fields for discovery
// and carving; its fast paths must agree with a byte-by-byte reading for every size.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readU } from '../src/os/linux/task-layout.js';

const reference = (bytes: Uint8Array, offset: number, size: number): bigint => {
  let v = 0n;
  for (let i = 0; i < size; i++) v |= BigInt(bytes[offset + i]!) << BigInt(8 * i);
  return v;
};

describe('readU', () => {
  it('agrees with a byte-by-byte little-endian read for sizes 1..8 at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), fc.nat(), (bytes, size, at) => {
        const offset = at % (bytes.length - size + 1);
        expect(readU(bytes, offset, size)).toBe(reference(bytes, offset, size));
      }),
    );
  });

  it('gives undefined past the end or before the start', () => {
    const b = new Uint8Array(8).fill(0xff);
    expect(readU(b, 0, 8)).toBe(0xffff_ffff_ffff_ffffn);
    expect(readU(b, 1, 8)).toBeUndefined();
    expect(readU(b, -1, 4)).toBeUndefined();
  });
});
