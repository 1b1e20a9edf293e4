// A physical layer with a large block cache, for the trainer's many small reads
// (pointer targets, page-table entries, objects scattered over an image). Each system
// call costs far more than the bytes it moves on some hosts (about 0.25 ms for an 8 KiB
// pread under the sandbox this was measured on), so reads go through 64 KiB blocks held
// in an LRU of bounded size: the number of system calls is the number of distinct
// blocks touched, not the number of reads. Blocks that cross a hole are not cached;
// reads there go to the layer below, which reports holes as InvalidAddressError.
import type { PhysAddr } from '../addr.js';
import type { PhysicalHole, PhysicalReader, PhysicalRun } from '../layers/physical.js';

export const BLOCK = 64 * 1024;

export class CachedPhysical implements PhysicalReader {
  readonly format;
  readonly path;
  readonly detail;
  readonly runs: readonly PhysicalRun[];
  readonly mappedSize: number;
  readonly endAddress: number;
  readonly fileSize: number;
  /** Block index → bytes, oldest first (Map keeps insertion order). */
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly capacity: number;
  /** Blocks read from the layer below (for tests and the report). */
  misses = 0;

  constructor(
    readonly inner: PhysicalReader,
    capacityBytes = 128 * 1024 * 1024,
  ) {
    this.format = inner.format;
    this.path = inner.path;
    this.detail = inner.detail;
    this.runs = inner.runs;
    this.mappedSize = inner.mappedSize;
    this.endAddress = inner.endAddress;
    this.fileSize = inner.fileSize;
    this.capacity = Math.max(1, Math.floor(capacityBytes / BLOCK));
  }

  holes(): PhysicalHole[] {
    return this.inner.holes();
  }

  isMappedPhys(pa: PhysAddr, length: number): boolean {
    return this.inner.isMappedPhys(pa, length);
  }

  private block(index: number): Uint8Array | undefined {
    const hit = this.blocks.get(index);
    if (hit) {
      this.blocks.delete(index);
      this.blocks.set(index, hit);
      return hit;
    }
    const pa = index * BLOCK;
    if (!this.inner.isMappedPhys(pa as PhysAddr, BLOCK)) return undefined;
    const bytes = new Uint8Array(BLOCK);
    this.inner.readPhysInto(pa as PhysAddr, bytes);
    this.misses += 1;
    if (this.blocks.size >= this.capacity) this.blocks.delete(this.blocks.keys().next().value as number);
    this.blocks.set(index, bytes);
    return bytes;
  }

  readPhysInto(pa: PhysAddr, target: Uint8Array): void {
    let done = 0;
    while (done < target.length) {
      const at = pa + done;
      const index = Math.floor(at / BLOCK);
      const off = at - index * BLOCK;
      const n = Math.min(target.length - done, BLOCK - off);
      const b = this.block(index);
      if (b) target.set(b.subarray(off, off + n), done);
      else this.inner.readPhysInto(at as PhysAddr, target.subarray(done, done + n));
      done += n;
    }
  }

  readPhys(pa: PhysAddr, length: number): Uint8Array {
    if (!this.inner.isMappedPhys(pa, length)) return this.inner.readPhys(pa, length); // throws the layer's own error
    const out = new Uint8Array(length);
    this.readPhysInto(pa, out);
    return out;
  }

  close(): void {
    this.blocks.clear();
    this.inner.close();
  }
}
