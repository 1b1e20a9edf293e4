// The chunk planner: scanning chunk by chunk finds exactly what one pass over each
// segment finds (no hit lost at a boundary, none found twice), holes are never scanned,
// and only physically and file-contiguous runs are merged.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PhysAddr, phys } from '../src/addr.js';
import { UsageError } from '../src/errors.js';
import type { PhysicalRun } from '../src/layers/physical.js';
import { MAX_CHUNKS, chunkPhys, mergeSegments, planChunks } from '../src/scan/plan.js';
import { programSpan } from '../src/signatures/program.js';
import { scanReference } from '../src/signatures/reference.js';
import { Rng, kernelLikeBytes, plantMatches, programArb } from './helpers/program-arbitraries.js';

const run = (paddr: number, fileOffset: number, length: number): PhysicalRun => ({ paddr: phys(paddr), fileOffset, length });

/** Runs from gaps and lengths; `joined[i]` makes run i continue run i-1 in both spaces. */
const runsArb = fc
  .array(
    fc.record({
      physGap: fc.integer({ min: 0, max: 3000 }),
      fileGap: fc.integer({ min: 0, max: 500 }),
      length: fc.integer({ min: 1, max: 5000 }),
      joined: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => {
    const runs: PhysicalRun[] = [];
    let pa = 0;
    let file = 0;
    for (const p of parts) {
      const join = p.joined && runs.length > 0;
      pa += join ? 0 : p.physGap;
      file += join ? 0 : p.fileGap;
      runs.push(run(pa, file, p.length));
      pa += p.length;
      file += p.length;
    }
    return runs;
  });

describe('chunk planner', () => {
  it('chunked scans find exactly the hits of whole-segment scans, none twice, none in a hole', () => {
    fc.assert(
      fc.property(runsArb, programArb, fc.integer({ min: 1, max: 7000 }), fc.integer(), (runs, program, chunkSize, seed) => {
        const last = runs[runs.length - 1]!;
        const rng = new Rng(seed);
        const file = kernelLikeBytes(last.fileOffset + last.length, rng);
        plantMatches(file, program, { start: 0, end: file.length, limit: file.length, phase: 0 }, 40, rng);
        const span = programSpan(program);
        const chunks = planChunks(runs, { chunkSize, span, alignment: program.alignment });

        const chunked: PhysAddr[] = [];
        for (const c of chunks) for (const off of scanReference(file, program, c.window)) chunked.push(chunkPhys(c, off));
        const whole: number[] = [];
        for (const s of mergeSegments(runs)) {
          const end = s.fileOffset + s.length;
          const w = { start: s.fileOffset, end, limit: end, phase: s.paddr % program.alignment };
          for (const off of scanReference(file, program, w)) whole.push(s.paddr + (off - s.fileOffset));
        }
        expect(chunked).toEqual(whole);
        // Ascending and distinct: merging chunk results in order needs no sort.
        for (let i = 1; i < chunked.length; i++) expect(chunked[i]).toBeGreaterThan(chunked[i - 1]!);
        // Every hit is physically aligned and inside a run.
        for (const pa of chunked) {
          expect(pa % program.alignment).toBe(0);
          expect(runs.some((r) => pa >= r.paddr && pa < r.paddr + r.length)).toBe(true);
        }
        // The chunks cover the runs exactly: no hole, nothing twice, ascending.
        let covered = 0;
        chunks.forEach((c, i) => {
          expect(c.index).toBe(i);
          expect(c.length).toBeLessThanOrEqual(chunkSize);
          if (i > 0) expect(c.paddr).toBeGreaterThanOrEqual(chunks[i - 1]!.paddr + chunks[i - 1]!.length);
          const r = runs.find((x) => c.paddr >= x.paddr && c.paddr < x.paddr + x.length)!;
          expect(r).toBeDefined();
          covered += c.length;
        });
        expect(covered).toBe(runs.reduce((n, r) => n + r.length, 0));
      }),
      { numRuns: 150 },
    );
  });

  it('a chunk reads span - 1 bytes past its end, never past its segment', () => {
    const chunks = planChunks([run(0x1000, 0x40, 0x3000)], { chunkSize: 0x1000, span: 0x80, alignment: 16 });
    expect(chunks.map((c) => c.window)).toEqual([
      { start: 0x40, end: 0x1040, limit: 0x10bf, phase: 0 },
      { start: 0x1040, end: 0x2040, limit: 0x20bf, phase: 0 },
      { start: 0x2040, end: 0x3040, limit: 0x3040, phase: 0 },
    ]);
    expect(chunks.map((c) => [c.paddr, c.length])).toEqual([
      [0x1000, 0x1000],
      [0x2000, 0x1000],
      [0x3000, 0x1000],
    ]);
  });

  it('the phase is the physical address of the window start, modulo the alignment', () => {
    const [c] = planChunks([run(0x1008, 0x3, 0x100)], { chunkSize: 0x1000, span: 8, alignment: 16 });
    expect(c!.window.phase).toBe(8);
  });

  it('merges runs contiguous physically and in the file, and no others', () => {
    const runs = [
      run(0x0, 0x100, 0x1000),
      run(0x1000, 0x1100, 0x1000), // continues the first in both spaces: merged
      run(0x2000, 0x3000, 0x1000), // physically adjacent, elsewhere in the file: not merged
      run(0x5000, 0x4000, 0x1000), // after a hole
    ];
    expect(mergeSegments(runs)).toEqual([
      { paddr: 0x0, fileOffset: 0x100, length: 0x2000, runs: [0, 1] },
      { paddr: 0x2000, fileOffset: 0x3000, length: 0x1000, runs: [2] },
      { paddr: 0x5000, fileOffset: 0x4000, length: 0x1000, runs: [3] },
    ]);
    // A chunk never spans the unmerged boundary at 0x2000.
    const chunks = planChunks(runs, { chunkSize: 0x10000, span: 64, alignment: 8 });
    expect(chunks.map((c) => [c.paddr, c.length, c.window.limit])).toEqual([
      [0x0, 0x2000, 0x2100],
      [0x2000, 0x1000, 0x4000],
      [0x5000, 0x1000, 0x5000],
    ]);
  });

  it.each([
    [{ chunkSize: 0, span: 8, alignment: 8 }, 'chunk size must be a positive integer (got 0)'],
    [{ chunkSize: 1.5, span: 8, alignment: 8 }, 'chunk size must be a positive integer (got 1.5)'],
    [{ chunkSize: 4096, span: 0, alignment: 8 }, 'program span must be a positive integer (got 0)'],
    [{ chunkSize: 4096, span: 8, alignment: 12 }, 'alignment must be a power of two (got 12)'],
  ])('rejects bad options: %o', (options, message) => {
    expect(() => planChunks([run(0, 0, 4096)], options)).toThrow(new UsageError(message));
  });

  it('refuses a chunk size that makes more than MAX_CHUNKS tasks', () => {
    expect(() => planChunks([run(0, 0, MAX_CHUNKS + 1)], { chunkSize: 1, span: 1, alignment: 1 })).toThrow(
      new UsageError(`chunk size 1 cuts this image into ${MAX_CHUNKS + 1} chunks (at most ${MAX_CHUNKS}); use a larger chunk size`),
    );
  });
});
