// Raw images: the file *is* guest physical memory from address 0, byte for byte
// (`dd` of /dev/mem, LiME's `raw`/`padded` formats, QEMU `pmemsave`, the synthetic
// generator's `.raw`). There is no header, so the whole file is one run starting at
// physical 0 and a raw image has no holes: memory the acquisition tool could not read
// (MMIO gaps, LiME "padded" ranges) is stored as zeros and reads back as zeros, and
// nothing in the file can tell those zeros from real ones. Prefer LiME or ELF when
// holes matter.
import { MAX_PHYS_ADDR, hex, phys } from '../addr.js';
import { ImageFormatError } from '../errors.js';
import type { FileSource } from './file-source.js';
import { type RunBytes, type RunSpec, type WrittenImage, checkRunSpecs, withSink } from './image-writer.js';
import type { ParsedImage } from './physical.js';

export function parseRaw(src: FileSource): ParsedImage {
  if (src.size === 0) throw new ImageFormatError(src.path, 0, 'empty file: a raw image needs at least one byte');
  if (src.size > MAX_PHYS_ADDR) {
    throw new ImageFormatError(src.path, 0, `raw image of ${src.size} bytes passes the 52-bit physical address limit`);
  }
  return {
    format: 'raw',
    runs: [{ paddr: phys(0), fileOffset: 0, length: src.size }],
    detail: `raw: physical 0x0..${hex(src.size)} is file 0x0..${hex(src.size)}; gaps in guest memory read as zeros`,
  };
}

/**
 * Write a raw image: each run's bytes at file offset = paddr. Holes are not written,
 * only skipped with a seek, so they cost no disk space on file systems with sparse
 * files and read back as zeros. The file ends at the end of the last run.
 */
export function writeRawImage(path: string, runs: readonly RunSpec[], source: RunBytes): WrittenImage {
  checkRunSpecs('writeRawImage', runs);
  const last = runs[runs.length - 1]!;
  const end = last.paddr + last.length;
  withSink(path, (sink) => {
    runs.forEach((run, i) => {
      if (sink.position !== run.paddr) sink.seek(run.paddr);
      sink.writeRun('writeRawImage', run, i, source);
    });
    sink.finish(end);
  });
  return { path, format: 'raw', runs: [{ paddr: phys(0), fileOffset: 0, length: end }], fileSize: end };
}
