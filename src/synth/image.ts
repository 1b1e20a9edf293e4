// Streams a world into an image file: page backgrounds from the noise bank, then the
// canvas (objects) and the page tables overlaid (overlayRunBytes), written by the layers
// writers (raw, LiME, ELF core). Runs of zero pages become sparse holes (zeroChunk), so a
// 4 GiB world never exists in memory and its free memory costs no disk.
import { type WrittenImage, type PhysPatch, type RunBytes, type RunSpec, overlayRunBytes, zeroChunk } from '../layers/image-writer.js';
import { writeElfCoreImage } from '../layers/elf-core.js';
import { writeLimeImage } from '../layers/lime.js';
import { writeRawImage } from '../layers/raw.js';
import { hex } from '../addr.js';
import { type MemoryMap, PAGE_SIZE, type SynthFormat } from './memory-map.js';
import type { PageContent } from './page-content.js';

/** Bytes per chunk handed to the writer (a multiple of the page size). */
export const CHUNK_SIZE = 1 << 20;

/** A RunBytes that produces each run's background page by page. */
export function backgroundBytes(content: PageContent): RunBytes {
  const buffer = new Uint8Array(CHUNK_SIZE);
  const view = new DataView(buffer.buffer);
  return function* (run: RunSpec): Iterable<Uint8Array> {
    if (run.paddr % PAGE_SIZE !== 0 || run.length % PAGE_SIZE !== 0) {
      throw new RangeError(`backgroundBytes: run ${hex(run.paddr)} +${hex(run.length)} is not page-aligned`);
    }
    for (let done = 0; done < run.length; done += CHUNK_SIZE) {
      const n = Math.min(CHUNK_SIZE, run.length - done);
      const firstPfn = (run.paddr + done) / PAGE_SIZE;
      const pages = n / PAGE_SIZE;
      let allZero = true;
      for (let i = 0; i < pages && allZero; i += 1) if (content.kindAt(firstPfn + i) !== 0) allZero = false;
      if (allZero) {
        yield zeroChunk(n);
        continue;
      }
      for (let i = 0; i < pages; i += 1) content.fillPage(firstPfn + i, buffer, i * PAGE_SIZE, view);
      yield n === CHUNK_SIZE ? buffer : buffer.subarray(0, n);
    }
  };
}

export interface WriteWorldOptions {
  readonly notes?: Uint8Array;
  readonly elfClass?: 32 | 64;
}

/** Write the image of a world to `path` in `format`. `patches` go over the background, later ones winning. */
export function writeWorldImage(
  path: string,
  format: SynthFormat,
  memory: MemoryMap,
  content: PageContent,
  patches: readonly PhysPatch[],
  options: WriteWorldOptions = {},
): WrittenImage {
  const runs = memory.runs(format);
  const source = overlayRunBytes(backgroundBytes(content), patches);
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
