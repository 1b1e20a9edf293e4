// Every message between the scan's main thread and its workers, in one file. Tasks
// carry descriptors (path, runs, window, program, signature file, OS name), never image
// bytes; each worker opens the image itself. Everything here survives structured clone
// (bigint and typed arrays do; class instances do not, hence SerializedError).
import type { PhysAddr } from '../addr.js';
import {
  EnvironmentError,
  ImageFormatError,
  ImageIOError,
  InvalidAddressError,
  KcarveError,
  LayoutError,
  SignatureError,
  TruthError,
  UsageError,
} from '../errors.js';
import type { FileImageFormat } from '../layers/open-image.js';
import type { PhysicalRun } from '../layers/physical.js';
import type { OsRef } from '../os/index.js';
import type { KernelSpaceInfo, ProcessRecord } from '../os/types.js';
import type { SignatureDoc } from '../signatures/format.js';
import type { Program } from '../signatures/program.js';
import type { Chunk } from './plan.js';

/** An image as the main thread opened it: enough for a worker to reopen it unparsed. */
export interface ImageDescriptor {
  path: string;
  format: FileImageFormat;
  runs: PhysicalRun[];
  /** File size when the main thread opened it; a worker that sees another size stops. */
  fileSize: number;
  detail: string;
}

/**
 * The signature as the main thread loaded and validated it; a worker resolves the
 * document against the layout itself (a resolved Signature holds functions and class
 * instances, which do not cross threads).
 */
export interface SignatureSource {
  /** The signature file (names it in messages; its layout path is relative to it). */
  file: string;
  doc: SignatureDoc;
  /** A layout file instead of the one the signature names (`--layout`). */
  layout?: string;
}

/** Value-constraint pass over one chunk with the native matcher. */
export interface ValueTask {
  kind: 'value';
  /** Names the scan; workers key what they keep open by it. */
  scanId: string;
  image: ImageDescriptor;
  program: Program;
  /** Names the signature in the matcher's error messages. */
  programSource: string;
  chunk: Chunk;
  /** How the matcher gets the bytes (ScanOptions.io in src/native/types.ts); default 'read'. */
  io?: 'read' | 'map';
}

export interface ValueDone {
  kind: 'value';
  ok: true;
  chunkIndex: number;
  /** Physical addresses of the chunk's hits, ascending. */
  hits: Float64Array;
  ms: number;
}

/** Graph pass over a batch of value hits: locate, recheck, edges, carve. */
export interface GraphTask {
  kind: 'graph';
  scanId: string;
  image: ImageDescriptor;
  signature: SignatureSource;
  os: OsRef;
  kernel: KernelSpaceInfo;
  batchIndex: number;
  /** Physical addresses of value hits, ascending. */
  candidates: number[];
}

/** Why candidates were dropped by the graph pass (counts). */
export interface Rejections {
  /** Failed the value constraints compiled for the image's real pointer mode. */
  valueRecheck: number;
  /** `scan.locate` found no target object. */
  locate: number;
  /** The located target failed the signature's targetConstraints. */
  targetConstraints: number;
  /** A required edge did not hold. */
  requiredEdge: number;
  /** All required edges held but the score stayed below scoring.minScore. */
  minScore: number;
  /** Another candidate already located the same target object. */
  duplicate: number;
}

export const NO_REJECTIONS: Readonly<Rejections> = {
  valueRecheck: 0,
  locate: 0,
  targetConstraints: 0,
  requiredEdge: 0,
  minScore: 0,
  duplicate: 0,
};

/** A candidate whose object could not be read or carved (an expected fault of the image). */
export interface Unverified {
  pa: PhysAddr;
  reason: string;
}

export interface GraphDone {
  kind: 'graph';
  ok: true;
  batchIndex: number;
  /** Accepted and carved, ascending by pa. */
  records: ProcessRecord[];
  rejected: Rejections;
  unverified: Unverified[];
  ms: number;
}

/** A KcarveError raised while running a task, sent back as data. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** The error's own fields (path, offset, field, reason, ...). */
  data: Record<string, string | number | undefined>;
}

/** The task ran into a KcarveError (anything else is thrown and fails the task). */
export interface TaskFailed {
  kind: 'value' | 'graph';
  ok: false;
  error: SerializedError;
}

export type ScanTask = ValueTask | GraphTask;
export type TaskResult = ValueDone | GraphDone | TaskFailed;

/** What the scan's worker module exports (default) and the in-process pool calls. */
export type TaskHandler = (task: ScanTask) => Promise<TaskResult>;

export function serializeError(err: KcarveError): SerializedError {
  const data: SerializedError['data'] = {};
  for (const [k, v] of Object.entries(err)) {
    if (typeof v === 'string' || typeof v === 'number' || v === undefined) data[k] = v;
    else if (typeof v === 'bigint') data[k] = `0x${v.toString(16)}`;
  }
  return { name: err.name, message: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }), data };
}

const str = (v: string | number | undefined): string => (v === undefined ? '' : String(v));
const num = (v: string | number | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

/** Rebuild the error class a worker raised (so callers can test `instanceof`). */
export function reviveError(e: SerializedError): KcarveError {
  const d = e.data;
  let err: KcarveError;
  switch (e.name) {
    case 'ImageIOError':
      err = new ImageIOError(str(d.path), num(d.offset), str(d.reason));
      break;
    case 'ImageFormatError':
      err = new ImageFormatError(str(d.path), num(d.offset), str(d.reason));
      break;
    case 'InvalidAddressError':
      err = new InvalidAddressError(
        (d.space as 'physical' | 'virtual' | 'file') ?? 'physical',
        BigInt(typeof d.address === 'string' || typeof d.address === 'number' ? d.address : 0),
        str(d.reason),
      );
      break;
    case 'SignatureError':
      err = new SignatureError(str(d.file), str(d.field), str(d.reason));
      break;
    case 'LayoutError':
      err = new LayoutError(str(d.file), d.type as string | undefined, d.member as string | undefined, str(d.reason));
      break;
    case 'TruthError':
      err = new TruthError(str(d.file), str(d.field), str(d.reason));
      break;
    case 'EnvironmentError':
      err = new EnvironmentError(str(d.tool), str(d.reason), d.fix as string | undefined);
      break;
    case 'UsageError':
      err = new UsageError(e.message);
      break;
    default:
      err = new KcarveError(e.message);
  }
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/**
 * Faults of the image in one range (an unreadable range, a file that changed, bytes
 * in a hole): the scan goes on and reports the range as missed. Any other KcarveError
 * (a bad signature, bad options) would fail every task alike and ends the scan.
 */
export function isRangeFault(err: unknown): err is ImageIOError | ImageFormatError | InvalidAddressError {
  return err instanceof ImageIOError || err instanceof ImageFormatError || err instanceof InvalidAddressError;
}
