// Bounded reads of an image file for the format parsers. Parsers never allocate a
// buffer sized by a header field: they check a header's claim against the file size
// first, then read at most MAX_HEADER_READ bytes at a time.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { hex } from '../addr.js';
import { ImageFormatError, ImageIOError } from '../errors.js';

/** Largest single read a parser may ask for. */
export const MAX_HEADER_READ = 1 << 20;

export interface FileSource {
  readonly path: string;
  readonly size: number;
  /** Bytes [offset, offset + length); the caller has checked they lie inside the file. */
  read(offset: number, length: number): Uint8Array;
}

export function fdSource(path: string, fd: number, size: number): FileSource {
  return {
    path,
    size,
    read(offset: number, length: number): Uint8Array {
      if (length > MAX_HEADER_READ || offset < 0 || offset + length > size) {
        // A parser bug, not bad input: parsers bound-check before reading.
        throw new RangeError(`${path}: header read ${hex(offset)}+${length} out of bounds`);
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        let n: number;
        try {
          n = readSync(fd, out, done, length - done, offset + done);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'error';
          throw new ImageIOError(path, offset + done, `read failed (${code}): ${(err as Error).message}`, {
            cause: err,
          });
        }
        if (n === 0) {
          throw new ImageIOError(path, offset + done, `file ended early: it had ${size} bytes when opened`);
        }
        done += n;
      }
      return out;
    },
  };
}

/** A FileSource over bytes in memory (for parsing headers in tests). */
export function bytesSource(path: string, bytes: Uint8Array): FileSource {
  return {
    path,
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      if (length > MAX_HEADER_READ || offset < 0 || offset + length > bytes.length) {
        throw new RangeError(`${path}: header read ${hex(offset)}+${length} out of bounds`);
      }
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A little-endian u64 field as a number, or undefined if it is 2^53 or more. */
export function u64(view: DataView, offset: number): number | undefined {
  const v = view.getBigUint64(offset, true);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
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
