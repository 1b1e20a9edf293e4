// The trainer's fast constraint tests (src/train/fast-eval.ts) against the reference
// evaluator, constraint by constraint, on buffers where a good share of candidates
// match; and the bitset helpers against plain counting.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constraintHolds } from '../../src/signatures/reference.js';
import { constraintSpan } from '../../src/signatures/program.js';
import { andCount, bitsetOf, fastTest, fullBitset, popcount } from '../../src/train/fast-eval.js';
import type { WindowSet } from '../../src/train/windows.js';
import { Rng, constraintArb, plant } from '../helpers/program-arbitraries.js';

function windows(count: number, size: number, fill: (bytes: Uint8Array) => void): WindowSet {
  const bytes = new Uint8Array(count * size);
  fill(bytes);
  return { size, count, bytes, view: new DataView(bytes.buffer), image: new Int32Array(count), pa: new Float64Array(count) };
}

describe('fastTest', () => {
  it('agrees with the reference evaluator on every constraint kind', () => {
    fc.assert(
      fc.property(constraintArb, fc.integer({ min: 1, max: 2 ** 31 }), (c, seed) => {
        const size = constraintSpan(c) + c.offset + 8;
        const rng = new Rng(seed);
        const w = windows(64, size, (bytes) => {
          for (let i = 0; i < bytes.length; i++) bytes[i] = rng.below(4) === 0 ? rng.below(256) : 0;
          // Half the windows hold a value the constraint accepts.
          for (let k = 0; k < 64; k += 2) plant(bytes, k * size + c.offset, c, rng);
        });
        const test = fastTest(c);
        for (let k = 0; k < w.count; k++) {
          expect(test(w.view, k * size)).toBe(constraintHolds(w.bytes, k * size, (k + 1) * size, c));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('counts matches in bitsets exactly', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 200 }), fc.array(fc.boolean(), { maxLength: 200 }), (a, b) => {
        const n = Math.min(a.length, b.length);
        const wa = windows(n, 1, (bytes) => a.slice(0, n).forEach((x, i) => (bytes[i] = x ? 1 : 0)));
        const wb = windows(n, 1, (bytes) => b.slice(0, n).forEach((x, i) => (bytes[i] = x ? 1 : 0)));
        const one = fastTest({ kind: 'eq', offset: 0, width: 1, value: 1n });
        const ba = bitsetOf(one, wa);
        const bb = bitsetOf(one, wb);
        expect(popcount(ba)).toBe(a.slice(0, n).filter(Boolean).length);
        expect(andCount(ba, bb)).toBe(a.slice(0, n).filter((x, i) => x && b[i]).length);
        expect(popcount(fullBitset(n))).toBe(n);
      }),
    );
  });
});
