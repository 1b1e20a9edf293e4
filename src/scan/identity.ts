// What a scan result says about its inputs, so results stay meaningful when a corpus is
// spread over machines (DESIGN.md, "Beyond one machine"): which image (by content hash),
// which signature (name, version and file hash), which kcarve.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { ImageIOError, UsageError } from '../errors.js';
import type { Signature } from '../signatures/load.js';

const MIB = 2 ** 20;

/**
 * edges: sha256 of the first and of the last MiB of the file (fast, and enough to tell
 * images apart in practice); full: sha256 of the whole file (reads it all once more);
 * none: no hash.
 */
export type HashMode = 'edges' | 'full' | 'none';
export const HASH_MODES: readonly HashMode[] = ['edges', 'full', 'none'];

export type ImageHash =
  | { mode: 'edges'; firstMib: string; lastMib: string }
  | { mode: 'full'; sha256: string }
  | { mode: 'none' };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function ioError(path: string, offset: number, err: unknown): ImageIOError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new ImageIOError(path, offset, `cannot hash the image (${code}): ${(err as Error).message}`, { cause: err });
}

function readAt(fd: number, path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, out, done, length - done, offset + done);
    } catch (err) {
      throw ioError(path, offset + done, err);
    }
    if (n === 0) throw new ImageIOError(path, offset + done, 'file ended early while hashing (did it change?)');
    done += n;
  }
  return out;
}

/** Hash an image file as `mode` says; `size` is its size when the scan opened it. */
export async function hashImage(path: string, size: number, mode: HashMode): Promise<ImageHash> {
  switch (mode) {
    case 'none':
      return { mode };
    case 'edges': {
      const fd = openSync(path, 'r');
      try {
        const n = Math.min(MIB, size);
        return { mode, firstMib: sha256(readAt(fd, path, 0, n)), lastMib: sha256(readAt(fd, path, size - n, n)) };
      } finally {
        closeSync(fd);
      }
    }
    case 'full': {
      const hash = createHash('sha256');
      let offset = 0;
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: MIB, end: size - 1 })) {
          hash.update(chunk as Buffer);
          offset += (chunk as Buffer).length;
        }
      } catch (err) {
        throw ioError(path, offset, err);
      }
      if (offset !== size) throw new ImageIOError(path, offset, 'file ended early while hashing (did it change?)');
      return { mode, sha256: hash.digest('hex') };
    }
    default:
      throw new UsageError(`hash must be one of ${HASH_MODES.join(', ')} (got ${JSON.stringify(mode)})`);
  }
}

export interface SignatureIdentity {
  name: string;
  version: string;
  file: string;
  /** sha256 of the signature file as read. */
  sha256: string;
  target: { os: string; type: string; build?: string };
  /** The layout the signature was resolved against. */
  layout: string;
  baseline: boolean;
}

export function signatureIdentity(sig: Signature): SignatureIdentity {
  const t = sig.doc.target;
  return {
    name: sig.doc.name,
    version: sig.doc.version,
    file: sig.file,
    sha256: sha256(readFileSync(sig.file)),
    target: { os: t.os, type: t.type, ...(t.build === undefined ? {} : { build: t.build }) },
    layout: sig.layout.file,
    baseline: sig.doc.baseline === true,
  };
}
