// Open a memory image file and detect its container format from its first bytes:
//   "\x7fELF"                 → ELF core (QEMU dump-guest-memory)
//   0x4C694D45 little-endian  → LiME
//   anything else             → raw
// A raw image is physical memory from address 0, and physical page 0 on x86 holds the
// real-mode interrupt vector table (BIOS data), so it does not begin with either magic
// in practice; `format` overrides detection when it does.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { ImageFormatError, ImageIOError, UsageError } from '../errors.js';
import { parseElfCore, looksLikeElf } from './elf-core.js';
import { FilePhysical } from './file-physical.js';
import { type FileSource, fdSource } from './file-source.js';
import { looksLikeLime, parseLime } from './lime.js';
import type { ImageFormat, ParsedImage } from './physical.js';
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

function openError(path: string, err: unknown): ImageIOError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const reason =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : `cannot open (${code}): ${(err as Error).message}`;
  return new ImageIOError(path, undefined, reason, { cause: err });
}

/**
 * Open `path` read-only and check it is a regular file; returns the descriptor (the
 * caller closes it) and the size. O_NONBLOCK keeps a FIFO from blocking the open
 * until some writer appears; it changes nothing for regular files.
 */
export function openRegularFile(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new ImageFormatError(path, undefined, 'is a directory, not a memory image file');
    }
    throw openError(path, err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ImageFormatError(path, undefined, 'is a directory, not a memory image file');
    if (!st.isFile()) throw new ImageFormatError(path, undefined, 'is not a regular file (device, pipe or socket)');
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
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
