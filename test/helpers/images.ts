// Helpers for tests that write images: a temp directory per test file, deterministic
// bytes, and byte sources that hand data over in uneven chunks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { RunBytes, RunSpec } from '../../src/layers/image-writer.js';

/** A fresh directory under os.tmpdir(), removed after the test file. */
export function useTmpDir(prefix: string): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), `kcarve-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return (name: string) => join(dir, name);
}

/** Deterministic pseudo-random bytes (xorshift32) for a seed. */
export function patternBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A RunBytes over run contents in memory, yielding chunks of the given sizes in turn. */
export function chunkedSource(contents: readonly Uint8Array[], chunkSizes: readonly number[] = [4096]): RunBytes {
  return function* (run: RunSpec, index: number): Iterable<Uint8Array> {
    const bytes = contents[index]!;
    if (bytes.length !== run.length) throw new Error('test source out of step with its runs');
    let k = 0;
    for (let done = 0; done < bytes.length; ) {
      const n = Math.max(1, Math.min(chunkSizes[k++ % chunkSizes.length]!, bytes.length - done));
      yield bytes.subarray(done, done + n);
      done += n;
    }
  };
}

/**
 * Where two byte arrays first differ (-1 when equal; the shorter length when one is a
 * prefix). vitest's deep equality walks typed arrays element by element and is slow
 * on large ones; compare with `expect(firstDifference(a, b)).toBe(-1)`.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  const cmp = Buffer.compare(Buffer.from(a.buffer, a.byteOffset, n), Buffer.from(b.buffer, b.byteOffset, n));
  if (cmp === 0) return a.length === b.length ? -1 : n;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
