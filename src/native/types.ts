// The exact shape of what native/src/addon.cc exports. Only ./index.ts sees
// the raw addon; everyone else imports the typed functions from there.
import type { Program, ScanWindow } from '../signatures/program.js';

/** An image file mapped read-only (openImage). Close it when done; GC also unmaps it. */
export interface NativeImage {
  /** The path given to openImage. */
  readonly path: string;
  /** File size in bytes when it was opened (the mapping's length). */
  readonly size: number;
  /** True after close(). Scanning a closed image is a UsageError. */
  readonly closed: boolean;
  /** Unmaps the file and closes it; calling it again does nothing. */
  close(): void;
}

/** A validated, compiled program (compileProgram); reusable by any number of scans. */
export interface CompiledProgram {
  /** Names the signature in error messages (compileProgram's `source`). */
  readonly source: string;
  readonly alignment: number;
  /** programSpan(): bytes from a candidate's start to the end of the furthest field. */
  readonly span: number;
  readonly constraintCount: number;
  /** Whether scans take the AVX2 prefilter path on this CPU. */
  readonly simd: boolean;
}

export interface ScanOptions {
  /**
   * At most this many matches (default 2^24); one more is a SignatureError
   * saying the program is not selective enough — never a silently short result.
   */
  maxHits?: number;
  /** false forces the scalar prefilter (tests and benches compare both). Default true. */
  simd?: boolean;
  /**
   * How scan() gets the bytes (scanBuffer ignores it); results are identical.
   * 'read' (default): pread() in 256 KiB blocks into a page-aligned buffer --
   * the fastest for one pass over an image (each page of a fresh mapping costs
   * a first-touch fault; see native/src/read_scan.h). 'map': read the mapping
   * directly, SIGBUS-guarded -- faster when the same mapping is scanned again.
   */
  io?: 'map' | 'read';
}

export interface NativeErrorClasses {
  ImageIOError: abstract new (...args: never[]) => Error;
  ImageFormatError: abstract new (...args: never[]) => Error;
  SignatureError: abstract new (...args: never[]) => Error;
  UsageError: abstract new (...args: never[]) => Error;
}

export interface NativeAddon {
  /** Hands the project's error classes to this environment's addon instance. */
  init(errors: NativeErrorClasses): void;
  openImage(path: string): NativeImage;
  compileProgram(program: Program, source?: string): CompiledProgram;
  scan(image: NativeImage, program: CompiledProgram, window: ScanWindow, options?: ScanOptions): Float64Array;
  scanBuffer(buffer: Uint8Array, program: CompiledProgram, window: ScanWindow, options?: ScanOptions): Float64Array;
  sumU64(image: NativeImage, start: number, end: number, options?: Pick<ScanOptions, 'simd'>): bigint;
  cpuFeatures(): { avx2: boolean };
}
