// Streams a world into an image file: page backgrounds from the noise bank, then the
// canvas (objects) and the page tables overlaid (overlayRunBytes), written by the layers
// writers (raw, LiME, ELF core). Runs of zero pages become sparse holes (zeroChunk), so a
// 4 GiB world never exists in memory and its free memory costs no disk.
import { type WrittenImage, type PhysPatch, type RunBytes, type RunSpec, overlayRunBytes, zeroChunk } from '../layers/image-writer.js';
import { writeElfCoreImage } from '../layers/elf-core.js';
import { writeLimeImage } from '../layers/lime.js';
import { writeRawImage } from '../layers/raw.js';
import { hex } from '../addr.js';
import type { MemoryMap, SynthFormat } from './memory-map.js';
import type { PageContent } from './page-content.js';

/** Page size (local: hot loops avoid a module binding lookup). */
const PAGE = 4096;
/** Bytes per chunk handed to the writer (a multiple of the page size). */
export const CHUNK_SIZE = 1 << 20;

/**
 * A RunBytes that produces each run page by page: a whole-page patch when there is one
 * (objects and page tables are whole canvas / table pages), else the page's background.
 * Chunks of only zero pages are yielded as zeroChunk (a sparse hole in the file).
 */
export function backgroundBytes(content: PageContent, pagePatches: ReadonlyMap<number, Uint8Array> = new Map()): RunBytes {
  const buffer = new Uint8Array(CHUNK_SIZE);
  const view = new DataView(buffer.buffer);
  return function* (run: RunSpec): Iterable<Uint8Array> {
    if (run.paddr % PAGE !== 0 || run.length % PAGE !== 0) {
      throw new RangeError(`backgroundBytes: run ${hex(run.paddr)} +${hex(run.length)} is not page-aligned`);
    }
    for (let done = 0; done < run.length; done += CHUNK_SIZE) {
      const n = Math.min(CHUNK_SIZE, run.length - done);
      const firstPfn = (run.paddr + done) / PAGE;
      const pages = n / PAGE;
      let allZero = true;
      for (let i = 0; i < pages && allZero; i += 1) if (content.kindAt(firstPfn + i) !== 0 || pagePatches.has(firstPfn + i)) allZero = false;
      if (allZero) {
        yield zeroChunk(n);
        continue;
      }
      for (let i = 0; i < pages; i += 1) {
        const patch = pagePatches.get(firstPfn + i);
        if (patch !== undefined) buffer.set(patch, i * PAGE);
        else content.fillPage(firstPfn + i, buffer, i * PAGE, view);
      }
      yield n === CHUNK_SIZE ? buffer : buffer.subarray(0, n);
    }
  };
}

export interface WriteWorldOptions {
  readonly notes?: Uint8Array;
  readonly elfClass?: 32 | 64;
}

/** Write the image of a world to `path` in `format`. `patches` go over the background (a later patch of the same page wins). */
export function writeWorldImage(
  path: string,
  format: SynthFormat,
  memory: MemoryMap,
  content: PageContent,
  patches: readonly PhysPatch[],
  options: WriteWorldOptions = {},
): WrittenImage {
  const runs = memory.runs(format);
  // Whole, aligned pages go in place (no copy of the chunk); anything else through overlayRunBytes.
  const whole = new Map<number, Uint8Array>();
  const partial: PhysPatch[] = [];
  for (const p of patches) {
    if (p.paddr % PAGE === 0 && p.bytes.length === PAGE && !whole.has(p.paddr / PAGE)) whole.set(p.paddr / PAGE, p.bytes);
    else partial.push(p);
  }
  const background = backgroundBytes(content, whole);
  const source = partial.length > 0 ? overlayRunBytes(background, partial) : background;
  switch (format) {
    case 'raw':
      return writeRawImage(path, runs, source);
    case 'lime':
      return writeLimeImage(path, runs, source);
    case 'elf':
      return writeElfCoreImage(path, runs, source, {
        ...(options.notes !== undefined ? { notes: options.notes } : {}),
        ...(options.elfClass !== undefined ? { elfClass: options.elfClass } : {}),
      });
  }
}
