// One loader for every layout source, so every command takes `--layout FILE`:
// a raw BTF blob (/sys/kernel/btf/vmlinux), a vmlinux ELF, a bzImage
// (/boot/vmlinuz-*), or a Volatility 3 ISF (.json); any of them may be gzip-
// or xz-compressed (.btf.gz, .json.gz, .json.xz). The format is told by
// content (magic bytes), not by file name.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { LayoutError } from '../errors.js';
import { parseBtf } from './btf.js';
import { btfToLayout } from './btf-layout.js';
import { isfFromBytes } from './isf.js';
import { extractKernelBtf, kernelFileKind } from './kernel-image.js';
import type { Layout } from './layout.js';
import { loadSymbolMap, withSymbols } from './symbol-map.js';
import { decodeXz, isXz } from './xz.js';

/** Largest decompressed layout file accepted. */
const MAX_DECOMPRESSED = 1024 * 1024 * 1024;

export type LayoutSourceKind = 'btf' | 'elf' | 'bzimage' | 'isf';

export interface LoadLayoutOptions {
  /** A System.map or /proc/kallsyms copy whose addresses become the layout's symbols. */
  symbols?: string;
}

/** Load a layout from any supported file; see the file comment for the formats. */
export function loadLayout(path: string, options: LoadLayoutOptions = {}): Layout {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    throw new LayoutError(path, undefined, undefined, `cannot read: ${(err as Error).message}`);
  }
  let layout = layoutFromBytes(raw, path);
  if (options.symbols !== undefined) {
    const map = loadSymbolMap(options.symbols);
    layout = withSymbols(layout, map.symbols);
  }
  return layout;
}

/** Decompress gzip/xz wrappers, then build a layout from BTF, ELF, bzImage or ISF bytes. */
export function layoutFromBytes(raw: Uint8Array, file: string): Layout {
  const bytes = unwrap(raw, file);
  const kind = sourceKind(bytes);
  if (kind === 'isf') return isfFromBytes(bytes, file);
  if (kind === undefined) {
    throw new LayoutError(file, undefined, undefined, 'not a layout: expected BTF, a vmlinux ELF, a bzImage or Volatility 3 ISF JSON (optionally .gz/.xz)');
  }
  const k = extractKernelBtf(bytes, file);
  // Offsets in BTF errors count from the start of the BTF bytes: the file itself,
  // or the .BTF section of the (decompressed) vmlinux.
  const btfLabel = k.kind === 'btf' ? file : `${file} (.BTF section of the ${k.kind === 'elf' ? 'ELF' : 'decompressed vmlinux'})`;
  const layout = btfToLayout(parseBtf(k.btf, btfLabel), file, k.pointerSize !== undefined ? { pointerSize: k.pointerSize } : {});
  layout.metadata.os = 'linux';
  if (k.release) layout.metadata.kernelRelease = k.release;
  if (k.banner) layout.metadata.banner = k.banner;
  return layout;
}

/** What kind of layout source `bytes` are (after decompression), if any. */
export function sourceKind(bytes: Uint8Array): LayoutSourceKind | undefined {
  const k = kernelFileKind(bytes);
  if (k) return k;
  for (let i = 0; i < bytes.length && i < 64; i += 1) {
    const c = bytes[i]!;
    if (c === 0x7b) return 'isf'; // '{'
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09 && c !== 0xef && c !== 0xbb && c !== 0xbf) break; // whitespace / UTF-8 BOM
  }
  return undefined;
}

function unwrap(raw: Uint8Array, file: string): Uint8Array {
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw, { maxOutputLength: MAX_DECOMPRESSED });
    } catch (err) {
      throw new LayoutError(file, undefined, undefined, `gzip data is corrupt: ${(err as Error).message}`);
    }
  }
  if (isXz(raw)) return decodeXz(raw, file, 0, { maxOutput: MAX_DECOMPRESSED });
  return raw;
}

/** Release of the kernel whose BTF kcarve ships; the Debian signatures are made for it. */
export const SHIPPED_KERNEL_RELEASE = '6.1.0-57-amd64';

/** Path of the BTF shipped for Debian's 6.1.0-57-amd64 kernel (see signatures/btf/README.md). */
export function shippedKernelBtfPath(): string {
  // src/types/ and dist/types/ both sit two levels below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'signatures', 'btf', 'linux-6.1.0-57-amd64.btf.gz');
}
