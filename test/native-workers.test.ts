// Several worker_threads load the addon at once and scan the same image at
// the same time: each gets the main thread's result, which is the reference's.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { compileProgram, openImage, scanImage } from '../src/native/index.js';
import type { Program, ScanWindow } from '../src/signatures/program.js';
import { scanReference } from '../src/signatures/reference.js';
import { kernelLikeBytes, plantMatches, Rng } from './helpers/program-arbitraries.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kcarve-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native matcher in worker_threads', () => {
  it('four workers scanning one image at once all find exactly the reference matches', async () => {
    const program: Program = {
      alignment: 16,
      constraints: [
        { kind: 'mask', offset: 8, width: 8, mask: 0xffff_8000_0000_0fffn, value: 0xffff_8000_0000_0000n },
        { kind: 'kptr', offset: 24, mode: 'x86-64-4' },
        { kind: 'string', offset: 40, minLength: 1, maxLength: 16 },
        { kind: 'range', offset: 56, width: 4, min: 1n, max: 4_194_304n },
      ],
    };
    const size = 2 << 20;
    const rng = new Rng(42);
    const bytes = kernelLikeBytes(size, rng);
    const whole: ScanWindow = { start: 0, end: size, limit: size, phase: 0 };
    plantMatches(bytes, program, whole, 300, rng);
    const file = path.join(dir, 'image.bin');
    writeFileSync(file, bytes);

    // The whole image and three overlapping chunks with awkward bounds.
    const windows: ScanWindow[] = [
      whole,
      { start: 0, end: 700_001, limit: 700_001 + 71, phase: 0 },
      { start: 700_001, end: 1_500_003, limit: 1_500_003 + 71, phase: 700_001 % 16 },
      { start: 1_500_003, end: size, limit: size, phase: 1_500_003 % 16 },
    ];
    const expected = scanReference(bytes, program, whole);
    expect(expected.length).toBeGreaterThan(200);
    const image = openImage(file);
    expect(Array.from(scanImage(image, compileProgram(program), whole))).toEqual(expected);
    image.close();

    const workers = 4;
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const started = Array.from({ length: workers }, () => {
      const w = new Worker(new URL('./fixtures/ts-worker.mjs', import.meta.url), {
        workerData: {
          entry: new URL('./fixtures/scan-worker.ts', import.meta.url).href,
          ...{ file, program, windows, rounds: 20, workers, barrier },
        },
      });
      return once(w, 'message').finally(() => void w.terminate()) as Promise<[{ results: number[][]; stable: boolean; ownErrorClass: boolean }]>;
    });
    const replies = await Promise.all(started);
    expect(Atomics.load(barrier, 0)).toBe(workers);
    for (const [{ results, stable, ownErrorClass }] of replies) {
      expect(stable).toBe(true);
      expect(ownErrorClass).toBe(true);
      expect(results[0]).toEqual(expected);
      expect([...results[1]!, ...results[2]!, ...results[3]!]).toEqual(expected);
    }
  });
});
