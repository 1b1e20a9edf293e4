// The bytes a world places over its background: kernel objects, stacks, copies. Pages are
// materialised on first write from the page's background (so the rest of a slab page keeps
// whatever its kind holds) and later streamed into the image as patches.
import { type PhysAddr, hex, phys } from '../addr.js';
import type { PhysPatch } from '../layers/image-writer.js';
import { PAGE_SIZE } from './memory-map.js';
import type { PageContent } from './page-content.js';

export class PhysCanvas {
  private readonly pages = new Map<number, Uint8Array>();

  constructor(private readonly content: PageContent) {}

  /** The canvas page for `pfn`, created from its background on first use. */
  page(pfn: number): Uint8Array {
    let p = this.pages.get(pfn);
    if (p === undefined) {
      if (pfn * PAGE_SIZE >= this.content.memory.end || !this.content.memory.isRam(pfn * PAGE_SIZE, PAGE_SIZE)) {
        throw new RangeError(`canvas: ${hex(pfn * PAGE_SIZE)} is not RAM`);
      }
      p = this.content.page(pfn);
      this.pages.set(pfn, p);
    }
    return p;
  }

  has(pfn: number): boolean {
    return this.pages.has(pfn);
  }

  write(pa: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const at = pa + done;
      const off = at % PAGE_SIZE;
      const n = Math.min(bytes.length - done, PAGE_SIZE - off);
      this.page((at - off) / PAGE_SIZE).set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Bytes as the image will hold them, apart from page tables (canvas, else background). */
  read(pa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = pa + done;
      const off = at % PAGE_SIZE;
      const n = Math.min(length - done, PAGE_SIZE - off);
      const pfn = (at - off) / PAGE_SIZE;
      const page = this.pages.get(pfn) ?? this.content.page(pfn);
      out.set(page.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  writeU64(pa: number, value: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.write(pa, b);
  }

  writeU32(pa: number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.write(pa, b);
  }

  readU64(pa: number): bigint {
    return new DataView(this.read(pa, 8).buffer).getBigUint64(0, true);
  }

  /** Number of materialised pages. */
  get size(): number {
    return this.pages.size;
  }

  /** Every canvas page as a patch, ascending. */
  patches(): PhysPatch[] {
    return [...this.pages.entries()].sort((a, b) => a[0] - b[0]).map(([pfn, bytes]) => ({ paddr: phys(pfn * PAGE_SIZE) as PhysAddr, bytes }));
  }

  /** Page frames in use, ascending. */
  pageFrames(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }
}
