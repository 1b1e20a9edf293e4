// A deterministic image file that looks like kernel memory to a scanner:
// mostly zeros, small integers and kernel pointers (a quarter of them page
// aligned, as struct page / stack / slab pointers often are), some random
// words and ASCII, plus planted objects that match the bench's task_struct-like
// program. So the prefilter is neither trivially fast (it fires on ~1 % of
// candidates and the remaining constraints then run) nor pathologically slow.
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';

export const GENERATOR_VERSION = 1;

export interface ImageSpec {
  size: number;
  seed: number;
  /** One planted object every this many bytes (on average). */
  plantEvery: number;
}

/** Writes one planted object: the fields the bench program checks. */
export type Planter = (block: DataView, at: number, rand: () => number) => void;

export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/** Fill a block with kernel-like 64-bit words (see the file comment). */
export function fillBlock(block: Uint32Array, rand: () => number): void {
  for (let i = 0; i < block.length; i += 2) {
    const r = rand();
    const kind = r % 100;
    let lo = 0;
    let hi = 0;
    if (kind < 50) {
      // zero
    } else if (kind < 70) {
      lo = (r >>> 8) & 0xffff;
    } else if (kind < 88) {
      // Direct-map pointer (x86-64 4-level page_offset_base region 0xffff8880...).
      const low = rand();
      hi = 0xffff8880 | ((r >>> 8) & 0xf);
      lo = (r >>> 12) % 4 === 0 ? low & ~0xfff : (r >>> 12) % 4 === 1 ? low & ~0x3f : low & ~7;
    } else if (kind < 95) {
      lo = rand();
      hi = rand();
    } else {
      lo = 0x61616161 + (rand() & 0x0f0f0f0f);
      hi = 0x61616161 + (rand() & 0x0f0f0f0f);
    }
    block[i] = lo >>> 0;
    block[i + 1] = hi >>> 0;
  }
}

/** Creates `file` per spec unless a file made by the same generator and spec is there. */
export function ensureImage(file: string, spec: ImageSpec, planter: Planter, log: (s: string) => void): void {
  const metaFile = `${file}.json`;
  const meta = JSON.stringify({ generator: GENERATOR_VERSION, ...spec });
  if (existsSync(file) && existsSync(metaFile) && statSync(file).size === spec.size) {
    if (readFileSync(metaFile, 'utf8') === meta) return;
  }
  log(`generating ${file} (${(spec.size / 2 ** 30).toFixed(2)} GiB, seed ${spec.seed}) ...`);
  const rand = xorshift(spec.seed);
  const blockSize = 16 << 20;
  const block = new Uint32Array(blockSize / 4);
  const view = new DataView(block.buffer);
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < spec.size; done += blockSize) {
      const len = Math.min(blockSize, spec.size - done);
      fillBlock(block, rand);
      const plants = Math.round(len / spec.plantEvery);
      for (let p = 0; p < plants; p++) {
        // Objects start 64-byte aligned and stay inside the block.
        const at = Math.floor((rand() / 2 ** 32) * ((len - 4096) / 64)) * 64;
        planter(view, at, rand);
      }
      writeSync(fd, new Uint8Array(block.buffer, 0, len));
    }
  } finally {
    closeSync(fd);
  }
  writeFileSync(metaFile, meta);
}
