// A physical layer held in memory: for tests, and for generators that build a small
// world before streaming it to an image file. Each run is its own Uint8Array; the
// runs' `fileOffset`s are where they would sit if concatenated, as if in a file.
import { type PhysAddr, hex, phys } from '../addr.js';
import { InvalidAddressError, UsageError } from '../errors.js';
import { type PhysicalRun, RunsPhysical, assertValidRuns, findRunIndex } from './physical.js';

/** Bytes of guest physical memory starting at `paddr`. */
export interface MemorySegment {
  readonly paddr: PhysAddr;
  readonly bytes: Uint8Array;
}

export class MemoryPhysical extends RunsPhysical {
  private readonly segments: readonly MemorySegment[];

  /**
   * Segments must be sorted by paddr and must not overlap; each needs at least one
   * byte. The arrays are used, not copied: writes through `writePhys` show in them.
   */
  constructor(segments: readonly MemorySegment[], path = '<memory>') {
    let offset = 0;
    const runs: PhysicalRun[] = segments.map((s) => {
      const run = { paddr: s.paddr, fileOffset: offset, length: s.bytes.length };
      offset += s.bytes.length;
      return run;
    });
    try {
      assertValidRuns(path, runs, offset);
    } catch (err) {
      throw new UsageError(`MemoryPhysical: ${(err as Error).message}`);
    }
    super('memory', path, `${segments.length} in-memory segments`, runs, offset);
    this.segments = segments;
  }

  /** Zero-filled memory over the given ranges (sorted, disjoint). */
  static zeroed(ranges: readonly { paddr: PhysAddr | number; length: number }[], path?: string): MemoryPhysical {
    return new MemoryPhysical(
      ranges.map((r) => ({ paddr: phys(r.paddr), bytes: new Uint8Array(r.length) })),
      path,
    );
  }

  close(): void {
    // Nothing to release; the arrays belong to whoever made them.
  }

  private segmentAtFileOffset(fileOffset: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.runs[mid]!.fileOffset <= fileOffset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  protected readFile(fileOffset: number, target: Uint8Array, targetOffset: number, length: number): void {
    // RunsPhysical never asks across a run boundary, so one segment serves the read.
    const i = this.segmentAtFileOffset(fileOffset);
    const start = fileOffset - this.runs[i]!.fileOffset;
    target.set(this.segments[i]!.bytes.subarray(start, start + length), targetOffset);
  }

  /** Overwrite guest physical bytes; every byte must lie in a segment. */
  writePhys(pa: PhysAddr, bytes: Uint8Array): void {
    const missing = this.firstUnmappedPhys(pa, bytes.length);
    if (missing !== undefined) {
      throw new InvalidAddressError('physical', BigInt(missing), `not in ${this.path} (writing ${bytes.length} bytes at ${hex(pa)})`);
    }
    let done = 0;
    while (done < bytes.length) {
      const cursor = pa + done;
      const i = findRunIndex(this.runs, cursor);
      const run = this.runs[i]!;
      const inRun = cursor - run.paddr;
      const n = Math.min(bytes.length - done, run.length - inRun);
      this.segments[i]!.bytes.set(bytes.subarray(done, done + n), inRun);
      done += n;
    }
  }
}
