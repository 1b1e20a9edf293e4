// Open a memory image file and detect its container format from its first bytes:
//   "\x7fELF"                 → ELF core (QEMU dump-guest-memory)
//   0x4C694D45 little-endian  → LiME
//   anything else             → raw
// A raw image is physical memory from address 0, and physical page 0 on x86 holds the
// real-mode interrupt vector table (BIOS data), so it does not begin with either magic
// in practice; `format` overrides detection when it does.
import { closeSync } from 'node:fs';
import { ImageFormatError, UsageError } from '../errors.js';
import { parseElfCore, looksLikeElf } from './elf-core.js';
import { FilePhysical } from './file-physical.js';
import { type FileSource, fdSource, openRegularFile } from './file-source.js';
import { looksLikeLime, parseLime } from './lime.js';
import type { ImageFormat, ParsedImage, PhysicalRun } from './physical.js';
import { parseRaw } from './raw.js';

export type FileImageFormat = Exclude<ImageFormat, 'memory'>;
export const FILE_IMAGE_FORMATS: readonly FileImageFormat[] = ['raw', 'lime', 'elf-core'];

export interface OpenImageOptions {
  /** Skip detection and read the file as this format. */
  readonly format?: FileImageFormat;
}

/** The format the first bytes of a file announce. */
export function detectFormat(head: Uint8Array): FileImageFormat {
  if (looksLikeElf(head)) return 'elf-core';
  if (looksLikeLime(head)) return 'lime';
  return 'raw';
}

/** Parse an already-open file (tests call this with an in-memory FileSource). */
export function parseImage(src: FileSource, format?: FileImageFormat): ParsedImage {
  if (src.size === 0) throw new ImageFormatError(src.path, 0, 'empty file: no memory image here');
  const chosen = format ?? detectFormat(src.read(0, Math.min(16, src.size)));
  switch (chosen) {
    case 'elf-core':
      return parseElfCore(src);
    case 'lime':
      return parseLime(src);
    case 'raw':
      return parseRaw(src);
  }
}

/**
 * Open a memory image read-only as a physical layer. Throws ImageIOError when the OS
 * refuses (missing file, permissions, EIO) and ImageFormatError when the file is not a
 * valid image (directory, empty, truncated, inconsistent headers). Close it when done.
 */
export function openImage(path: string, options: OpenImageOptions = {}): FilePhysical {
  if (options.format !== undefined && !FILE_IMAGE_FORMATS.includes(options.format)) {
    throw new UsageError(`unknown image format ${JSON.stringify(options.format)} (expected one of ${FILE_IMAGE_FORMATS.join(', ')})`);
  }
  const { fd, size } = openRegularFile(path);
  try {
    const parsed = parseImage(fdSource(path, fd, size), options.format);
    return new FilePhysical(parsed.format, path, parsed.detail, parsed.runs, size, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Reopen an image whose runs are already known (a worker handed a descriptor by the
 * main thread), without parsing the container again. The runs are still checked
 * against the file: sorted, disjoint, inside it.
 */
export function openImageRuns(path: string, format: FileImageFormat, runs: readonly PhysicalRun[], detail = ''): FilePhysical {
  const { fd, size } = openRegularFile(path);
  try {
    return new FilePhysical(format, path, detail, runs, size, fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
