// The one loader of the native matcher. Node 20 ESM cannot import a .node
// file, so it goes through createRequire. The addon is loaded on first use, so
// commands that never scan do not need it built; when it is missing, the error
// says how to build it.
//
// Each Node environment (the main thread, each worker_thread) loads its own
// addon instance and hands it the error classes; the native side keeps no
// mutable global state, so any number of workers may scan at once.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError, ImageFormatError, ImageIOError, SignatureError, UsageError } from '../errors.js';
import type { Program, ScanWindow } from '../signatures/program.js';
import type { CompiledProgram, NativeAddon, NativeImage, ScanOptions } from './types.js';

export type { CompiledProgram, NativeAddon, NativeImage, ScanOptions } from './types.js';

// src/native/index.ts and dist/native/index.js sit at the same depth.
const ADDON_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../native/build/Release/kcarve_native.node',
);

let loaded: NativeAddon | undefined;

const BUILD_HINT = 'run `npm install` (or `npm run build:native`)';

/**
 * Loads and initialises the addon at `file`. Exported for the test of the
 * missing-addon message; everything else goes through nativeAddon().
 */
export function loadNativeAddonFrom(file: string): NativeAddon {
  if (!existsSync(file)) {
    throw new EnvironmentError('kcarve native matcher', `${file} is not built`, BUILD_HINT);
  }
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (err) {
    throw new EnvironmentError(
      'kcarve native matcher',
      `cannot load ${file}: ${err instanceof Error ? err.message : String(err)}`,
      BUILD_HINT,
    );
  }
  addon.init({ ImageIOError, ImageFormatError, SignatureError, UsageError });
  return addon;
}

/** The addon of this environment (main thread or worker), loaded on first use. */
export function nativeAddon(): NativeAddon {
  loaded ??= loadNativeAddonFrom(ADDON_PATH);
  return loaded;
}

/**
 * Opens and maps an image file read-only. A missing or unreadable file is an
 * ImageIOError; a directory, a non-regular file or an empty file an
 * ImageFormatError.
 */
export function openImage(filePath: string): NativeImage {
  return nativeAddon().openImage(filePath);
}

/**
 * Validates and compiles a program (same checks and messages as
 * validateProgram); SignatureError(source, field, reason) when malformed.
 */
export function compileProgram(program: Program, source?: string): CompiledProgram {
  return nativeAddon().compileProgram(program, source);
}

/**
 * File offsets of the candidates in `window` where every constraint holds,
 * ascending. The window must lie inside the file (ImageIOError naming the path
 * and offsets otherwise, also when the file shrank since it was opened or
 * shrinks during the scan).
 */
export function scanImage(
  image: NativeImage,
  program: CompiledProgram,
  window: ScanWindow,
  options?: ScanOptions,
): Float64Array {
  return nativeAddon().scan(image, program, window, options);
}

/** scanImage over bytes in memory; offsets are indices into `buffer`. */
export function scanBuffer(
  buffer: Uint8Array,
  program: CompiledProgram,
  window: ScanWindow,
  options?: ScanOptions,
): Float64Array {
  return nativeAddon().scanBuffer(buffer, program, window, options);
}

/**
 * Sum (mod 2^64) of the little-endian u64 words at start, start + 8, ... that
 * end by `end`: a pass that only reads the mapping, the bandwidth baseline.
 */
export function sumU64(image: NativeImage, start: number, end: number, options?: { simd?: boolean }): bigint {
  return nativeAddon().sumU64(image, start, end, options);
}

export function cpuFeatures(): { avx2: boolean } {
  return nativeAddon().cpuFeatures();
}
