// Native images: opening and its errors, window and option errors, the u64
// baseline pass, and files that shrink under a mapping (SIGBUS).
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvironmentError, ImageFormatError, ImageIOError, SignatureError, UsageError } from '../src/errors.js';
import { compileProgram, loadNativeAddonFrom, openImage, scanBuffer, scanImage, sumU64 } from '../src/native/index.js';
import type { Program } from '../src/signatures/program.js';
import { scanReference } from '../src/signatures/reference.js';
import { kernelLikeBytes, Rng } from './helpers/program-arbitraries.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kcarve-image-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const anyByte: Program = { alignment: 1, constraints: [{ kind: 'range', offset: 0, width: 1, min: 0n, max: 255n }] };

function fileOf(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('openImage', () => {
  it('maps a file and reports its path and size; close is idempotent', () => {
    const file = fileOf('small.bin', new Uint8Array(1000));
    const image = openImage(file);
    expect(image.path).toBe(file);
    expect(image.size).toBe(1000);
    expect(image.closed).toBe(false);
    image.close();
    image.close();
    expect(image.closed).toBe(true);
    const p = compileProgram(anyByte);
    expect(() => scanImage(image, p, { start: 0, end: 1, limit: 1, phase: 0 })).toThrow(
      new UsageError(`scan: the image ${file} is closed`),
    );
    expect(() => sumU64(image, 0, 8)).toThrow(new UsageError(`sumU64: the image ${file} is closed`));
  });

  it('a window getter that closes the image mid-call gets a UsageError, not a read of unmapped memory', () => {
    const file = fileOf('getter.bin', new Uint8Array(1 << 16).fill(1));
    const p = compileProgram(anyByte);
    for (const io of ['map', 'read'] as const) {
      const image = openImage(file);
      const sneaky = { start: 0, end: 1 << 16, limit: 1 << 16, get phase() { image.close(); return 0; } };
      expect(() => scanImage(image, p, sneaky, { io })).toThrow(new UsageError(`scan: the image ${file} is closed`));
    }
    const image = openImage(file);
    const closing = { get simd() { image.close(); return true; } };
    expect(() => sumU64(image, 0, 1 << 16, closing)).toThrow(new UsageError(`sumU64: the image ${file} is closed`));
  });

  it('a missing file is an ImageIOError naming the path and errno', () => {
    const file = path.join(dir, 'missing.bin');
    const err = thrown(() => openImage(file)) as ImageIOError;
    expect(err).toBeInstanceOf(ImageIOError);
    expect(err.path).toBe(file);
    expect(err.offset).toBeUndefined();
    expect(err.reason).toBe('cannot open (ENOENT: No such file or directory)');
  });

  it('a directory, an empty file and a device are ImageFormatErrors', () => {
    const sub = path.join(dir, 'a-directory');
    mkdirSync(sub);
    expect(thrown(() => openImage(sub))).toEqual(new ImageFormatError(sub, undefined, 'is a directory, not an image file'));
    const empty = fileOf('empty.bin', new Uint8Array(0));
    const err = thrown(() => openImage(empty)) as ImageFormatError;
    expect(err).toBeInstanceOf(ImageFormatError);
    expect([err.path, err.offset, err.reason]).toEqual([empty, 0, 'is empty']);
    expect(thrown(() => openImage('/dev/null'))).toEqual(new ImageFormatError('/dev/null', undefined, 'is not a regular file'));
  });

  it('bad arguments are UsageErrors', () => {
    expect(() => openImage(42 as never)).toThrow(new UsageError('openImage: path must be a string (got 42)'));
    expect(() => openImage('')).toThrow(new UsageError('openImage: path must be a non-empty string without NUL bytes'));
    const p = compileProgram(anyByte);
    expect(() => scanImage({ path: 'x' } as never, p, { start: 0, end: 0, limit: 0, phase: 0 })).toThrow(
      new UsageError('scan: image must be a handle returned by openImage() (got an object)'),
    );
    const image = openImage(fileOf('args.bin', new Uint8Array(64)));
    expect(() => scanImage(image, anyByte as never, { start: 0, end: 0, limit: 0, phase: 0 })).toThrow(
      new UsageError('scan: program must be a handle returned by compileProgram() (got an object)'),
    );
    expect(() => scanBuffer([1, 2] as never, p, { start: 0, end: 0, limit: 0, phase: 0 })).toThrow(
      new UsageError('scanBuffer: buffer must be a Uint8Array (got an array)'),
    );
    expect(() => scanImage(image, p, { start: 0, end: 1, limit: 1, phase: 0 }, { maxHits: 0 })).toThrow(
      new UsageError('options.maxHits must be a positive safe integer (got 0)'),
    );
    expect(() => scanImage(image, p, { start: 0, end: 1, limit: 1, phase: 0 }, { simd: 1 as never })).toThrow(
      new UsageError('options.simd must be a boolean (got 1)'),
    );
    expect(() => scanImage(image, p, { start: 0, end: 1, limit: 1, phase: 0 }, { io: 'mmap' as never })).toThrow(
      new UsageError('options.io must be "map" or "read" (got "mmap")'),
    );
    image.close();
  });

  it('the loader names the build command when the addon is missing', () => {
    const err = thrown(() => loadNativeAddonFrom('/nonexistent/kcarve_native.node')) as EnvironmentError;
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toBe(
      'kcarve native matcher: /nonexistent/kcarve_native.node is not built ' +
        '(fix: run `npm install` (or `npm run build:native`))',
    );
  });
});

describe('scan windows', () => {
  const bytes = new Uint8Array(256);
  const file = fileOf('windows.bin', bytes);
  const p = compileProgram(anyByte);

  it('native scan, scanBuffer and scanReference reject a malformed window with the same UsageError', () => {
    const bad: Array<[unknown, string]> = [
      [null, 'scan window must be an object (got null)'],
      [{ start: 0, end: 8, limit: 8 }, 'window.phase must be a non-negative safe integer (got undefined)'],
      [{ start: 0.5, end: 8, limit: 8, phase: 0 }, 'window.start must be a non-negative safe integer (got a number that is not a safe integer)'],
      [{ start: 0, end: -8, limit: 8, phase: 0 }, 'window.end must be a non-negative safe integer (got -8)'],
      [{ start: 0, end: 2 ** 53, limit: 8, phase: 0 }, 'window.end must be a non-negative safe integer (got a number that is not a safe integer)'],
      [{ start: 16, end: 8, limit: 32, phase: 0 }, 'window.end (0x8) must not be less than window.start (0x10)'],
      [{ start: 0, end: 32, limit: 16, phase: 0 }, 'window.limit (0x10) must not be less than window.end (0x20)'],
    ];
    const image = openImage(file);
    for (const [w, message] of bad) {
      expect(() => scanImage(image, p, w as never)).toThrow(new UsageError(message));
      expect(() => scanBuffer(bytes, p, w as never)).toThrow(new UsageError(message));
      expect(() => scanReference(bytes, anyByte, w as never)).toThrow(new UsageError(message));
    }
    image.close();
  });

  it('a window past the end of the file is an ImageIOError naming the path and offsets', () => {
    const image = openImage(file);
    const err = thrown(() => scanImage(image, p, { start: 0x10, end: 0x100, limit: 0x108, phase: 0 })) as ImageIOError;
    expect(err).toBeInstanceOf(ImageIOError);
    expect(err.path).toBe(file);
    expect(err.offset).toBe(0x108);
    expect(err.reason).toBe('scan window [0x10, 0x100) reads up to 0x108, past the end of the file (0x100 bytes)');
    expect(() => scanBuffer(bytes, p, { start: 0x10, end: 0x100, limit: 0x108, phase: 0 })).toThrow(
      new UsageError('scan window [0x10, 0x100) reads up to 0x108, past the end of the buffer (0x100 bytes)'),
    );
    image.close();
  });

  it('more matches than maxHits is a SignatureError, never a short result', () => {
    const image = openImage(file);
    const named = compileProgram(anyByte, 'every-byte');
    expect(scanImage(image, named, { start: 0, end: 100, limit: 256, phase: 0 }, { maxHits: 100 })).toHaveLength(100);
    expect(() => scanImage(image, named, { start: 0, end: 101, limit: 256, phase: 0 }, { maxHits: 100 })).toThrow(
      new SignatureError('every-byte', '', 'more than 100 candidates matched in [0x0, 0x65); the program is not selective enough (options.maxHits raises the cap)'),
    );
    expect(() => scanBuffer(bytes, named, { start: 0, end: 101, limit: 256, phase: 0 }, { maxHits: 100, simd: false })).toThrow(SignatureError);
    image.close();
  });
});

describe('scanBuffer', () => {
  it('scans a view into a larger buffer, offsets relative to the view', () => {
    const backing = new Uint8Array(4096);
    backing.fill(7, 1000, 1001);
    backing.fill(7, 1064, 1065);
    const view = backing.subarray(1000, 2000);
    const p = compileProgram({ alignment: 8, constraints: [{ kind: 'eq', offset: 0, width: 1, value: 7n }] });
    const w = { start: 0, end: view.length, limit: view.length, phase: 0 };
    expect(Array.from(scanBuffer(view, p, w))).toEqual([0, 64]);
    expect(scanReference(view, { alignment: 8, constraints: [{ kind: 'eq', offset: 0, width: 1, value: 7n }] }, w)).toEqual([0, 64]);
    expect(Array.from(scanBuffer(Buffer.from(view), p, w))).toEqual([0, 64]);
  });
});

describe('scanBuffer and a detached buffer', () => {
  it('a window getter that transfers the buffer away gets a UsageError, not a read of freed memory', () => {
    const bytes = new Uint8Array(1 << 16).fill(1);
    const p = compileProgram(anyByte);
    const sneaky = {
      start: 0,
      end: 1 << 16,
      limit: 1 << 16,
      get phase() {
        structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
        return 0;
      },
    };
    expect(() => scanBuffer(bytes, p, sneaky)).toThrow(
      new UsageError('scan window [0x0, 0x10000) reads up to 0x10000, past the end of the buffer (0x0 bytes)'),
    );
  });
});

describe('sumU64', () => {
  it('sums the u64 words of a range, mod 2^64, with and without AVX2', () => {
    const size = 100_003;
    const bytes = kernelLikeBytes(size, new Rng(7));
    const image = openImage(fileOf('sum.bin', bytes));
    const dv = new DataView(bytes.buffer);
    const expectSum = (start: number, end: number): bigint => {
      let s = 0n;
      for (let at = start; at + 8 <= end; at += 8) s = (s + dv.getBigUint64(at, true)) & 0xffff_ffff_ffff_ffffn;
      return s;
    };
    for (const [start, end] of [[0, size], [3, size], [5, 1000], [17, 17], [0, 7], [99_000, size]] as const) {
      expect(sumU64(image, start, end)).toBe(expectSum(start, end));
      expect(sumU64(image, start, end, { simd: false })).toBe(expectSum(start, end));
    }
    expect(() => sumU64(image, 0, size + 1)).toThrow(ImageIOError);
    expect(() => sumU64(image, 8, 4)).toThrow(new UsageError('sumU64: end (0x4) must not be less than start (0x8)'));
    image.close();
  });
});

describe('files that shrink under the mapping', () => {
  it('a file truncated after openImage: scan and sumU64 say it shrank', () => {
    const file = fileOf('shrunk.bin', new Uint8Array(1 << 16).fill(0x41));
    const image = openImage(file);
    truncateSync(file, 4096);
    const p = compileProgram(anyByte);
    for (const io of ['map', 'read'] as const) {
      const err = thrown(() => scanImage(image, p, { start: 0, end: 8192, limit: 8192, phase: 0 }, { io })) as ImageIOError;
      expect(err).toBeInstanceOf(ImageIOError);
      expect(err.offset).toBe(8192);
      expect(err.reason).toBe(
        'the file shrank to 0x1000 bytes since it was opened (0x10000 bytes); scan window [0x0, 0x2000) reads up to 0x2000',
      );
    }
    expect(() => sumU64(image, 0, 1 << 16)).toThrow(/the file shrank to 0x1000 bytes since it was opened/);
    // What is still there can be scanned.
    expect(scanImage(image, p, { start: 0, end: 4096, limit: 4096, phase: 0 })).toHaveLength(4096);
    image.close();
  });

  it('a file truncated during a scan by reading: the short read is an ImageIOError', async () => {
    // As below, but io 'read': 256 KiB blocks, each taking a while with a
    // 256-byte string test at every offset; the truncation lands inside one
    // block and the next block's read comes back short.
    const size = 8 << 20;
    const file = fileOf('shrinking-read.bin', new Uint8Array(size).fill(0x41));
    const image = openImage(file);
    const slow = compileProgram({ alignment: 1, constraints: [{ kind: 'string', offset: 0, minLength: 0, maxLength: 256 }] });
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const truncator = new Worker(
      `const { workerData } = require('node:worker_threads');
       const { truncateSync } = require('node:fs');
       Atomics.wait(workerData.flag, 0, 0);
       Atomics.wait(workerData.flag, 0, 1, 50);
       truncateSync(workerData.file, 4096);`,
      { eval: true, workerData: { flag, file } },
    );
    await once(truncator, 'online');
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const err = thrown(() => scanImage(image, slow, { start: 0, end: size, limit: size, phase: 0 }, { io: 'read' })) as ImageIOError;
    await once(truncator, 'exit');
    expect(err).toBeInstanceOf(ImageIOError);
    expect(err.path).toBe(file);
    expect(err.reason).toBe('the file shrank while it was being read (end of file)');
    // The read that came back short is that of a later 256 KiB block.
    expect(err.offset! % (256 << 10)).toBe(0);
    expect(err.offset).toBeGreaterThanOrEqual(256 << 10);
    image.close();
  });

  it('a file truncated during a scan: SIGBUS becomes an ImageIOError and the process lives on', async () => {
    // Every byte is 'A', so a string constraint of up to 4096 bytes at every
    // offset reads 4 KiB per candidate: the scan would run for minutes, so the
    // truncation (50 ms after the scan starts) always lands in the middle of it.
    const size = 8 << 20;
    const file = fileOf('shrinking.bin', new Uint8Array(size).fill(0x41));
    const image = openImage(file);
    const slow = compileProgram({ alignment: 1, constraints: [{ kind: 'string', offset: 0, minLength: 0, maxLength: 4096 }] });
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const truncator = new Worker(
      `const { workerData } = require('node:worker_threads');
       const { truncateSync } = require('node:fs');
       Atomics.wait(workerData.flag, 0, 0);
       Atomics.wait(workerData.flag, 0, 1, 50);
       truncateSync(workerData.file, 4096);`,
      { eval: true, workerData: { flag, file } },
    );
    await once(truncator, 'online');
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const started = Date.now();
    const err = thrown(() => scanImage(image, slow, { start: 0, end: size, limit: size, phase: 0 }, { io: 'map' })) as ImageIOError;
    expect(Date.now() - started).toBeLessThan(20_000);
    await once(truncator, 'exit');
    expect(err).toBeInstanceOf(ImageIOError);
    expect(err.path).toBe(file);
    expect(err.reason).toBe('the file shrank while it was being read (SIGBUS in the mapping)');
    expect(err.offset).toBeGreaterThanOrEqual(4096);
    expect(err.offset).toBeLessThan(size);

    // The same thread keeps working: the guard is re-armed and the mapping of
    // what is left still reads.
    const p = compileProgram(anyByte);
    expect(scanImage(image, p, { start: 0, end: 4096, limit: 4096, phase: 0 })).toHaveLength(4096);
    expect(() => scanImage(image, p, { start: 0, end: size, limit: size, phase: 0 })).toThrow(/since it was opened/);
    image.close();
    const other = openImage(fileOf('after.bin', new Uint8Array(64).fill(1)));
    expect(sumU64(other, 0, 64)).toBe(8n * 0x0101010101010101n);
    other.close();
  });

  it('a SIGBUS outside any scan still ends the process (the guard passes it on)', () => {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/sigbus-child.ts'), path.join(dir, 'child.bin')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(child.stdout).toBe('scanned\n');
    expect(child.signal).toBe('SIGBUS');
  });
});
