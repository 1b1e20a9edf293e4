// The physical layer: what every container format (raw, LiME, ELF core) becomes.
// An image is a sorted list of runs, each mapping a range of guest physical
// addresses onto a range of the file; whatever no run covers is a hole. The scan
// engine plans chunks over `runs`; everything else reads through `readPhys`.
import { MAX_PHYS_ADDR, type PhysAddr, hex, phys } from '../addr.js';
import { ImageFormatError, InvalidAddressError } from '../errors.js';

/** Guest physical [paddr, paddr + length) is stored at file [fileOffset, fileOffset + length). */
export interface PhysicalRun {
  readonly paddr: PhysAddr;
  readonly fileOffset: number;
  readonly length: number;
}

/** Guest physical [paddr, paddr + length) is in no run: the image does not hold it. */
export interface PhysicalHole {
  readonly paddr: PhysAddr;
  readonly length: number;
}

/** Container formats kcarve reads; `memory` is an in-memory layer (tests, generators). */
export type ImageFormat = 'raw' | 'lime' | 'elf-core' | 'memory';

/** The least a page-table walker needs: bytes at a physical address. */
export interface PhysReadable {
  /** `length` bytes at `pa`; throws InvalidAddressError if any byte is not in the image. */
  readPhys(pa: PhysAddr, length: number): Uint8Array;
}

/** A physical address space backed by an image (file or memory). */
export interface PhysicalReader extends PhysReadable {
  readonly format: ImageFormat;
  /** The image file ('<memory>' for an in-memory layer). */
  readonly path: string;
  /** One line for humans: what the container said about itself (class, counts, ...). */
  readonly detail: string;
  /** Sorted by paddr, non-overlapping in physical and in file space, each length > 0. */
  readonly runs: readonly PhysicalRun[];
  /** Sum of the run lengths: the bytes of guest memory the image holds. */
  readonly mappedSize: number;
  /** One past the highest physical address any run covers (0 when there are no runs). */
  readonly endAddress: number;
  /** Size of the backing file (for memory layers: mappedSize). */
  readonly fileSize: number;
  /** The gaps from physical 0 up to endAddress that no run covers, ascending. */
  holes(): PhysicalHole[];
  /** Fill `target` with the bytes at [pa, pa + target.length); throws like readPhys. */
  readPhysInto(pa: PhysAddr, target: Uint8Array): void;
  /** True when every byte of [pa, pa + length) lies in a run. */
  isMappedPhys(pa: PhysAddr, length: number): boolean;
  /** Release the file descriptor; later reads throw. */
  close(): void;
}

/** A run as a parser found it, with where in the file it was described. */
export interface RunCandidate {
  paddr: number;
  fileOffset: number;
  length: number;
  /** File offset of the header that described this run (for error messages), if any. */
  headerOffset: number | undefined;
  /** 'PT_LOAD #3', 'LiME range #0', ... */
  label: string;
}

/**
 * Validate runs a parser found and return them sorted by physical address.
 * Rejects (ImageFormatError naming the describing header) zero lengths, runs past the
 * 52-bit physical limit, runs outside the file, and runs overlapping in physical or in
 * file space. With `mergeConsistentOverlaps`, runs that overlap physically but agree on
 * the file offset of every shared byte (QEMU's paging-mode dumps repeat a physical range
 * once per virtual mapping of it) are merged instead of rejected.
 */
export function checkRuns(
  path: string,
  candidates: readonly RunCandidate[],
  fileSize: number,
  options: { mergeConsistentOverlaps?: boolean } = {},
): PhysicalRun[] {
  for (const c of candidates) {
    const fail = (reason: string): never => {
      throw new ImageFormatError(path, c.headerOffset, `${c.label}: ${reason}`);
    };
    if (!Number.isSafeInteger(c.length) || c.length <= 0) fail(`length ${c.length} is not positive`);
    if (c.paddr + c.length > MAX_PHYS_ADDR) {
      fail(`physical range ${hex(c.paddr)}+${hex(c.length)} passes the 52-bit physical address limit`);
    }
    if (c.fileOffset + c.length > fileSize) {
      fail(
        `data at file offset ${hex(c.fileOffset)}+${hex(c.length)} extends past the end of the file ` +
          `(${fileSize} bytes; truncated image?)`,
      );
    }
  }
  const byPhys = [...candidates].sort((a, b) => a.paddr - b.paddr || a.fileOffset - b.fileOffset);
  const merged: RunCandidate[] = [];
  for (const c of byPhys) {
    const prev = merged[merged.length - 1];
    if (prev !== undefined && c.paddr < prev.paddr + prev.length) {
      const consistent = c.fileOffset - c.paddr === prev.fileOffset - prev.paddr;
      if (!(options.mergeConsistentOverlaps === true && consistent)) {
        throw new ImageFormatError(
          path,
          c.headerOffset,
          `${c.label} (physical ${hex(c.paddr)}..${hex(c.paddr + c.length)}) overlaps ${prev.label} ` +
            `(physical ${hex(prev.paddr)}..${hex(prev.paddr + prev.length)})` +
            (options.mergeConsistentOverlaps === true ? ' with different file data' : ''),
        );
      }
      const end = Math.max(prev.paddr + prev.length, c.paddr + c.length);
      merged[merged.length - 1] = { ...prev, length: end - prev.paddr };
      continue;
    }
    merged.push(c);
  }
  const byFile = [...merged].sort((a, b) => a.fileOffset - b.fileOffset);
  for (let i = 1; i < byFile.length; i++) {
    const prev = byFile[i - 1]!;
    const c = byFile[i]!;
    if (c.fileOffset < prev.fileOffset + prev.length) {
      throw new ImageFormatError(
        path,
        c.headerOffset,
        `${c.label} (file ${hex(c.fileOffset)}..${hex(c.fileOffset + c.length)}) shares file bytes with ` +
          `${prev.label} (file ${hex(prev.fileOffset)}..${hex(prev.fileOffset + prev.length)})`,
      );
    }
  }
  return merged.map((c) => ({ paddr: phys(c.paddr), fileOffset: c.fileOffset, length: c.length }));
}

/** Check the invariants of an already-built run list (sorted, disjoint, inside the file). */
export function assertValidRuns(path: string, runs: readonly PhysicalRun[], fileSize: number): void {
  const checked = checkRuns(
    path,
    runs.map((r, i) => ({ ...r, headerOffset: undefined, label: `run #${i}` })),
    fileSize,
  );
  for (let i = 0; i < runs.length; i++) {
    if (checked[i]!.paddr !== runs[i]!.paddr) {
      throw new ImageFormatError(path, undefined, `run #${i} at ${hex(runs[i]!.paddr)} is out of order`);
    }
  }
}

/** Index of the last run starting at or below pa, or -1. Runs sorted by paddr. */
export function findRunIndex(runs: readonly PhysicalRun[], pa: number): number {
  let lo = 0;
  let hi = runs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (runs[mid]!.paddr <= pa) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** The gaps between runs, from physical 0 to the end of the last run. */
export function holesOf(runs: readonly PhysicalRun[]): PhysicalHole[] {
  const holes: PhysicalHole[] = [];
  let cursor = 0;
  for (const r of runs) {
    if (r.paddr > cursor) holes.push({ paddr: phys(cursor), length: r.paddr - cursor });
    cursor = r.paddr + r.length;
  }
  return holes;
}

function checkRequest(pa: number, length: number): void {
  if (!Number.isSafeInteger(pa) || pa < 0) throw new RangeError(`not a physical address: ${pa}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`not a read length: ${length}`);
}

/**
 * Shared read logic over a sorted run list. Subclasses supply `readFile`, which
 * copies file bytes into a target; this class splits requests at run boundaries and
 * reports the first byte in a hole.
 */
export abstract class RunsPhysical implements PhysicalReader {
  readonly mappedSize: number;
  readonly endAddress: number;

  protected constructor(
    readonly format: ImageFormat,
    readonly path: string,
    readonly detail: string,
    readonly runs: readonly PhysicalRun[],
    readonly fileSize: number,
  ) {
    this.mappedSize = runs.reduce((sum, r) => sum + r.length, 0);
    const last = runs[runs.length - 1];
    this.endAddress = last === undefined ? 0 : last.paddr + last.length;
  }

  /** Copy file [fileOffset, fileOffset + length) into target at targetOffset. */
  protected abstract readFile(fileOffset: number, target: Uint8Array, targetOffset: number, length: number): void;

  abstract close(): void;

  holes(): PhysicalHole[] {
    return holesOf(this.runs);
  }

  /** First address in [pa, pa + length) that no run covers, or undefined. */
  firstUnmappedPhys(pa: number, length: number): number | undefined {
    checkRequest(pa, length);
    let cursor = pa;
    const end = pa + length;
    // Run i starts at or below pa; each following run must start where the last ended.
    let i = findRunIndex(this.runs, cursor);
    while (cursor < end) {
      const r = i >= 0 ? this.runs[i] : undefined;
      if (r === undefined || r.paddr > cursor || cursor >= r.paddr + r.length) return cursor;
      cursor = r.paddr + r.length;
      i++;
    }
    return undefined;
  }

  isMappedPhys(pa: PhysAddr, length: number): boolean {
    return this.firstUnmappedPhys(pa, length) === undefined;
  }

  readPhys(pa: PhysAddr, length: number): Uint8Array {
    // Check before allocating: a wild length over a hole must fail, not exhaust memory.
    this.assertMapped(pa, length);
    const out = new Uint8Array(length);
    this.copyPhys(pa, out);
    return out;
  }

  readPhysInto(pa: PhysAddr, target: Uint8Array): void {
    this.assertMapped(pa, target.length);
    this.copyPhys(pa, target);
  }

  private assertMapped(pa: number, length: number): void {
    const missing = this.firstUnmappedPhys(pa, length);
    if (missing !== undefined) {
      const what = length === 1 ? hex(pa) : `${hex(pa)}..${hex(pa + length)}`;
      throw new InvalidAddressError(
        'physical',
        BigInt(missing),
        `not in ${this.path} (reading ${what}: the address is in a hole between runs)`,
      );
    }
  }

  /** Copy [pa, pa + target.length), known to be mapped, into target. */
  private copyPhys(pa: number, target: Uint8Array): void {
    const length = target.length;
    let done = 0;
    let i = findRunIndex(this.runs, pa);
    while (done < length) {
      let r = this.runs[i]!;
      const cursor = pa + done;
      if (cursor >= r.paddr + r.length) r = this.runs[++i]!;
      const inRun = cursor - r.paddr;
      const n = Math.min(length - done, r.length - inRun);
      if (inRun < 0 || n <= 0) throw new Error(`internal: run walk out of step at ${hex(cursor)}`);
      this.readFile(r.fileOffset + inRun, target, done, n);
      done += n;
    }
  }
}

/** What a format parser finds in a file: its runs and a one-line description. */
export interface ParsedImage {
  readonly format: Exclude<ImageFormat, 'memory'>;
  readonly runs: PhysicalRun[];
  readonly detail: string;
}
