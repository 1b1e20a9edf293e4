// Native matcher == reference evaluator, exactly: scanBuffer (vector and
// scalar prefilter), scan over a temp file, and scanReference agree on random
// programs, buffers and windows; chunked scans reassemble the whole-range result.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileProgram, cpuFeatures, openImage, scanBuffer, scanImage } from '../src/native/index.js';
import { programSpan } from '../src/signatures/program.js';
import type { ScanWindow } from '../src/signatures/program.js';
import { scanReference } from '../src/signatures/reference.js';
import { kernelLikeBytes, plant, plantMatches, programArb, Rng, scenarioArb, vectorProgramArb } from './helpers/program-arbitraries.js';
import { firstCandidate } from '../src/signatures/window.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kcarve-matcher-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Native scan of bytes written to a file, by pread and by the mapping (undefined for an empty buffer, which cannot be opened). */
function scanViaFile(bytes: Uint8Array, program: ReturnType<typeof compileProgram>, windows: ScanWindow[]): number[][] | undefined {
  if (bytes.length === 0) return undefined;
  const file = path.join(dir, 'image.bin');
  writeFileSync(file, bytes);
  const image = openImage(file);
  try {
    const viaRead = windows.map((w) => Array.from(scanImage(image, program, w, { io: 'read' })));
    const viaMap = windows.map((w) => Array.from(scanImage(image, program, w, { io: 'map' })));
    // Both ways of getting at the file must agree before either is compared.
    expect(viaMap).toEqual(viaRead);
    return viaRead;
  } finally {
    image.close();
  }
}

describe('native matcher against the reference evaluator', () => {
  it('the machine under test has AVX2, so the vector path is exercised', () => {
    // Not a requirement of kcarve (the scalar path serves other CPUs), but
    // without AVX2 this suite would only compare the scalar path.
    expect(cpuFeatures().avx2).toBe(true);
  });

  it('scanBuffer (vector and scalar), scan over a file and scanReference agree on random inputs', () => {
    let runs = 0;
    let withHits = 0;
    let vectorRuns = 0;
    fc.assert(
      fc.property(scenarioArb, ({ program, bytes, window }) => {
        const compiled = compileProgram(program);
        const expected = scanReference(bytes, program, window);
        expect(Array.from(scanBuffer(bytes, compiled, window))).toEqual(expected);
        expect(Array.from(scanBuffer(bytes, compiled, window, { simd: false }))).toEqual(expected);
        const viaFile = scanViaFile(bytes, compiled, [window]);
        if (viaFile) expect(viaFile[0]).toEqual(expected);
        runs++;
        if (expected.length > 0) withHits++;
        if (compiled.simd) vectorRuns++;
      }),
      { numRuns: 400 },
    );
    // The generators must make matches common and take the vector path often,
    // or agreement would prove little.
    expect(withHits / runs).toBeGreaterThan(0.3);
    expect(vectorRuns / runs).toBeGreaterThan(0.4);
  });

  it('vector pass edges: prefilter-only programs, matches at most candidates, limits that cut the last fields', () => {
    let vectorRuns = 0;
    fc.assert(
      fc.property(
        vectorProgramArb,
        fc.integer(),
        fc.nat({ max: 40 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (program, seed, candidates, startPick, cut, phase) => {
          const rng = new Rng(seed);
          const [k] = program.constraints;
          const span = programSpan(program);
          // Room for `candidates` candidates plus a span of slack either side.
          const size = (candidates + 2) * program.alignment + span;
          const bytes = kernelLikeBytes(size, rng);
          const start = startPick % program.alignment;
          const end = Math.min(size, start + candidates * program.alignment);
          const limit = Math.min(size, end + (cut % (span + program.alignment)));
          const window = { start, end, limit, phase };
          // Plant a match at roughly three candidates in four, beyond the limit too.
          for (let c = firstCandidate(window, program.alignment); c < size - span; c += program.alignment) {
            if (rng.below(4) !== 0) plant(bytes, c + k!.offset, k!, rng);
          }
          const compiled = compileProgram(program);
          if (compiled.simd) vectorRuns++;
          const expected = scanReference(bytes, program, window);
          expect(Array.from(scanBuffer(bytes, compiled, window))).toEqual(expected);
          expect(Array.from(scanBuffer(bytes, compiled, window, { simd: false }))).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
    expect(vectorRuns).toBe(500);
  });

  it('scan by reading splits the window into blocks without losing or doubling a match at their seams', () => {
    const block = 256 << 10; // read_scan.cc's kBlock
    let nearSeams = 0;
    fc.assert(
      fc.property(programArb, fc.integer(), fc.nat({ max: 5000 }), fc.nat({ max: 5000 }), fc.nat(), (program, seed, startPick, endCut, phase) => {
        const size = 3 * block + 100_000;
        const rng = new Rng(seed);
        const bytes = kernelLikeBytes(size, rng);
        const window: ScanWindow = { start: startPick, end: size - endCut, limit: size, phase };
        const span = programSpan(program);
        // Plant matches at candidates within two spans of each block seam.
        for (const seam of [1, 2, 3].map((k) => window.start + k * block)) {
          const start = seam - 2 * span;
          const end = Math.min(window.end, seam + span);
          // The phase that keeps these candidates those of the whole window.
          if (start < end) plantMatches(bytes, program, { start, end, limit: size, phase: start - window.start + phase }, 12, rng);
        }
        const compiled = compileProgram(program);
        const expected = Array.from(scanBuffer(bytes, compiled, window));
        expect(scanViaFile(bytes, compiled, [window])![0]).toEqual(expected);
        if (expected.some((c) => [1, 2, 3].some((k) => c < window.start + k * block && c + span > window.start + k * block))) nearSeams++;
      }),
      { numRuns: 40 },
    );
    expect(nearSeams).toBeGreaterThan(5);
  });

  it('chunks with overlap >= span, each owning the candidates that start in it, give the whole-range result', () => {
    const chunkedArb = fc.record({
      program: programArb,
      size: fc.integer({ min: 1, max: 30000 }),
      seed: fc.integer(),
      plants: fc.integer({ min: 0, max: 40 }),
      phase: fc.nat({ max: 4096 }),
      cuts: fc.array(fc.nat(), { maxLength: 12 }),
      extraOverlap: fc.oneof(fc.constant(0), fc.nat({ max: 64 })),
      reducePhase: fc.boolean(),
    });
    let withHits = 0;
    let straddling = 0;
    fc.assert(
      fc.property(chunkedArb, ({ program, size, seed, plants, phase, cuts, extraOverlap, reducePhase }) => {
        const rng = new Rng(seed);
        const bytes = kernelLikeBytes(size, rng);
        const whole: ScanWindow = { start: 0, end: size, limit: size, phase };
        plantMatches(bytes, program, whole, plants, rng);
        const compiled = compileProgram(program);
        const span = programSpan(program);
        expect(compiled.span).toBe(span);

        const bounds = [...new Set([0, size, ...cuts.map((c) => c % size)])].sort((a, b) => a - b);
        const windows: ScanWindow[] = [];
        for (let i = 0; i + 1 < bounds.length; i++) {
          const start = bounds[i]!;
          const end = bounds[i + 1]!;
          // The smallest overlap that still lets the last candidate (end - 1)
          // read its whole span is span - 1; extraOverlap adds slack.
          const limit = Math.min(size, end + span - 1 + extraOverlap);
          const chunkPhase = reducePhase ? (start + phase) % program.alignment : start + phase;
          windows.push({ start, end, limit, phase: chunkPhase });
        }
        const expected = scanReference(bytes, program, whole);
        const chunked = windows.flatMap((w) => Array.from(scanBuffer(bytes, compiled, w)));
        expect(chunked).toEqual(expected);
        const chunkedFile = scanViaFile(bytes, compiled, windows)!.flat();
        expect(chunkedFile).toEqual(expected);
        if (expected.length > 0) withHits++;
        // A match whose fields cross into the next chunk is what the overlap is for.
        if (expected.some((c) => windows.some((w) => c >= w.start && c < w.end && c + span > w.end))) straddling++;
      }),
      { numRuns: 200 },
    );
    expect(withHits).toBeGreaterThan(60);
    expect(straddling).toBeGreaterThan(10);
  });

  it('an overlap of span - 2 loses a match in the last byte of a chunk, span - 1 keeps it', () => {
    // The converse of the property above, on a fixed case: the span is exact,
    // not slack. With alignment 1 the chunk's last candidate is end - 1.
    const program = {
      alignment: 1,
      constraints: [
        { kind: 'eq' as const, offset: 0, width: 8 as const, value: 0x1122334455667788n },
        { kind: 'string' as const, offset: 8, minLength: 1, maxLength: 8 },
      ],
    };
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(31, 0x1122334455667788n, true);
    bytes.set([0x61, 0x62, 0], 39);
    const compiled = compileProgram(program);
    expect(compiled.span).toBe(16);
    expect(Array.from(scanBuffer(bytes, compiled, { start: 0, end: 64, limit: 64, phase: 0 }))).toEqual([31]);
    expect(Array.from(scanBuffer(bytes, compiled, { start: 0, end: 32, limit: 32 + 16 - 1, phase: 0 }))).toEqual([31]);
    expect(Array.from(scanBuffer(bytes, compiled, { start: 0, end: 32, limit: 32 + 16 - 2, phase: 0 }))).toEqual([]);
    expect(scanReference(bytes, program, { start: 0, end: 32, limit: 32 + 16 - 2, phase: 0 })).toEqual([]);
  });

  it('matches at the very end of the file: the last field may end exactly at the file size', () => {
    fc.assert(
      fc.property(programArb, fc.integer(), fc.integer({ min: 0, max: 200 }), (program, seed, pad) => {
        const span = programSpan(program);
        const size = span + pad;
        const rng = new Rng(seed);
        const bytes = kernelLikeBytes(size, rng);
        // The last candidate whose span fits: the one starting at size - span
        // when it is aligned; plant there.
        const last = Math.floor((size - span) / program.alignment) * program.alignment;
        for (const k of program.constraints) plantMatches(bytes, { ...program, constraints: [k] }, { start: last, end: last + 1, limit: size, phase: 0 }, 1, rng);
        const whole = { start: 0, end: size, limit: size, phase: 0 };
        const expected = scanReference(bytes, program, whole);
        const compiled = compileProgram(program);
        expect(Array.from(scanBuffer(bytes, compiled, whole))).toEqual(expected);
        expect(scanViaFile(bytes, compiled, [whole])![0]).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });
});
