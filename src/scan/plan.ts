// The chunk planner: cut an image's physical runs into fixed-size pieces the workers
// scan independently, so that together they find exactly what one pass over each run
// would find — no hit lost at a chunk boundary, none found twice.
//
// - A chunk's candidates are the aligned addresses in [paddr, paddr + length); a hit
//   belongs to the chunk it starts in.
// - A chunk may read past its end (the overlap) up to `span - 1` bytes, so a candidate
//   near the end sees all the fields it tests; never past the end of its segment.
// - Holes are skipped: only runs are planned. An object that would straddle the end of
//   a run is not a candidate (its bytes past the run are not in the image).
// - Runs that are contiguous both physically and in the file are merged into one
//   segment, so an object across their boundary is found. Runs that are physically
//   adjacent but stored apart in the file are NOT merged: the matcher reads one file
//   range, so an object straddling such a boundary is missed by the value pass. (QEMU
//   and LiME split runs at holes, where nothing straddles; say so if an image differs.)
// - Candidate alignment is physical: the window's phase is the physical address of its
//   first byte (see ScanWindow in ../signatures/program.ts).
import { type PhysAddr, hex, phys } from '../addr.js';
import { UsageError } from '../errors.js';
import type { PhysicalRun } from '../layers/physical.js';
import type { ScanWindow } from '../signatures/program.js';

/** Default chunk: big enough that per-task overhead vanishes, small enough to balance 2..16 workers. */
export const DEFAULT_CHUNK_SIZE = 64 * 2 ** 20;
/** More chunks than this is a chunk size too small for the image (each is a task). */
export const MAX_CHUNKS = 2 ** 20;

/** Physically and file-contiguous runs, merged. */
export interface Segment {
  paddr: PhysAddr;
  fileOffset: number;
  length: number;
  /** Indexes of the runs merged into it. */
  runs: number[];
}

export interface Chunk {
  /** Position in the plan (ascending physical address). */
  index: number;
  /** Candidates start in physical [paddr, paddr + length). */
  paddr: PhysAddr;
  length: number;
  /** The same range as file offsets, for the matcher; limit includes the overlap. */
  window: ScanWindow;
}

export interface PlanOptions {
  /** Bytes of candidates per chunk (the last chunk of a segment may be shorter). */
  chunkSize: number;
  /** Bytes from a candidate's start to the end of the furthest field read (programSpan). */
  span: number;
  /** Candidate alignment (physical), a power of two. */
  alignment: number;
}

/** Merge runs that continue each other both physically and in the file. */
export function mergeSegments(runs: readonly PhysicalRun[]): Segment[] {
  const out: Segment[] = [];
  runs.forEach((r, i) => {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.paddr + prev.length === r.paddr && prev.fileOffset + prev.length === r.fileOffset) {
      prev.length += r.length;
      prev.runs.push(i);
    } else {
      out.push({ paddr: r.paddr, fileOffset: r.fileOffset, length: r.length, runs: [i] });
    }
  });
  return out;
}

function positiveInteger(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v <= 0) throw new UsageError(`${name} must be a positive integer (got ${String(v)})`);
}

/** Validate plan options with the messages the CLI shows. */
export function checkPlanOptions(o: PlanOptions): void {
  positiveInteger(o.chunkSize, 'chunk size');
  positiveInteger(o.span, 'program span');
  positiveInteger(o.alignment, 'alignment');
  if ((o.alignment & (o.alignment - 1)) !== 0) throw new UsageError(`alignment must be a power of two (got ${o.alignment})`);
}

/** The chunks of `runs` (sorted, disjoint, as a PhysicalReader holds them), ascending. */
export function planChunks(runs: readonly PhysicalRun[], options: PlanOptions): Chunk[] {
  checkPlanOptions(options);
  const { chunkSize, span, alignment } = options;
  const segments = mergeSegments(runs);
  const count = segments.reduce((n, s) => n + Math.ceil(s.length / chunkSize), 0);
  if (count > MAX_CHUNKS) {
    throw new UsageError(`chunk size ${chunkSize} cuts this image into ${count} chunks (at most ${MAX_CHUNKS}); use a larger chunk size`);
  }
  const chunks: Chunk[] = [];
  for (const s of segments) {
    const fileEnd = s.fileOffset + s.length;
    for (let at = 0; at < s.length; at += chunkSize) {
      const length = Math.min(chunkSize, s.length - at);
      const start = s.fileOffset + at;
      const end = start + length;
      const paddr = phys(s.paddr + at);
      chunks.push({
        index: chunks.length,
        paddr,
        length,
        window: { start, end, limit: Math.min(fileEnd, end + span - 1), phase: paddr % alignment },
      });
    }
  }
  return chunks;
}

/** Physical address of a file offset the matcher returned for `chunk`. */
export function chunkPhys(chunk: Chunk, fileOffset: number): PhysAddr {
  return (chunk.paddr + (fileOffset - chunk.window.start)) as PhysAddr;
}

/** `[0x1000, 0x5000)` — how chunks and missed ranges are named in messages. */
export function rangeText(paddr: number, length: number): string {
  return `[${hex(paddr)}, ${hex(paddr + length)})`;
}
