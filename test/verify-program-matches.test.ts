// programMatchesAt (src/scan/verify.ts) reads into one reused array when the kernel
// space offers readPhysInto; it must answer exactly as reading a fresh array does,
// including "false" for an object that runs into a hole.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { phys, type PhysAddr, type VirtAddr } from '../src/addr.js';
import { MemoryPhysical } from '../src/layers/memory-physical.js';
import type { KernelSpace } from '../src/signatures/edges.js';
import { programSpan } from '../src/signatures/program.js';
import { programMatchesAt } from '../src/scan/verify.js';
import { Rng, kernelLikeBytes, plant, programArb } from './helpers/program-arbitraries.js';

function spaces(image: MemoryPhysical): { fresh: KernelSpace; reused: KernelSpace } {
  const base = {
    pointerMode: 'x86-64-4' as const,
    translateVirt: (va: VirtAddr): PhysAddr => phys(Number(va)),
    virtOfPhys: (): VirtAddr | undefined => undefined,
    readPhys: (pa: PhysAddr, n: number) => image.readPhys(pa, n),
  };
  return { fresh: base, reused: { ...base, readPhysInto: (pa: PhysAddr, t: Uint8Array) => image.readPhysInto(pa, t) } };
}

describe('programMatchesAt', () => {
  it('gives the same answer through the reused buffer as through fresh reads, holes included', () => {
    // Planted constraints can contradict each other; enough programs must still match
    // for "true" answers to be compared too.
    let matched = 0;
    fc.assert(
      fc.property(programArb, fc.integer({ min: 1, max: 2 ** 31 }), (program, seed) => {
        const rng = new Rng(seed);
        const span = programSpan(program);
        // Two runs with a hole between them: objects near the hole cannot be read whole.
        const a = kernelLikeBytes(4096, rng);
        const b = kernelLikeBytes(4096, rng);
        // A planted object in each run, so that "true" answers are compared too.
        for (const c of program.constraints) {
          plant(a, 8, c, rng);
          plant(b, 64, c, rng);
        }
        const image = new MemoryPhysical([
          { paddr: phys(0), bytes: a },
          { paddr: phys(8192), bytes: b },
        ]);
        const { fresh, reused } = spaces(image);
        for (const pa of [0, 8, 4096 - span, 4096 - 1, 8192, 8192 + 64, 12288 - span]) {
          if (pa < 0) continue;
          expect(programMatchesAt(reused, program, phys(pa))).toBe(programMatchesAt(fresh, program, phys(pa)));
        }
        if (programMatchesAt(fresh, program, phys(8))) matched += 1;
        // Past the end of the first run: in the hole.
        expect(programMatchesAt(reused, program, phys(4096))).toBe(false);
      }),
      { numRuns: 120, seed: 20261130 },
    );
    expect(matched).toBeGreaterThan(5);
  });
});
