// A buddy allocator over a world's usable RAM, so objects land where a kernel would put
// them: naturally aligned blocks of 2^order pages (an order-3 slab is 32 KiB-aligned, as
// the real task_struct slabs are: datasets/build/train/*/truth.json has task pas at
// 0x…0000, 0x…2100, 0x…4200 of 32 KiB blocks), scattered by earlier allocations.
//
// Linux's buddy allocator (mm/page_alloc.c) keeps one free list per order up to
// MAX_ORDER - 1 = 10 (4 MiB blocks, include/linux/mmzone.h in 6.1), splits a larger
// block when a list is empty and merges a freed block with its buddy (pfn ^ 2^order).
// Which free block it hands out depends on the history of frees; here that history is a
// seeded random choice among the free blocks of the order, and `churn` runs a burst of
// allocations and frees first, so that memory is fragmented the way a system that has
// been running is: free and used blocks interleave at every scale.
import { type PhysAddr, hex, phys } from '../addr.js';
import { UsageError } from '../errors.js';
import { PAGE_SIZE, type PhysRange } from './memory-map.js';
import type { Prng } from './prng.js';

export const MAX_ORDER = 10;

/** A block handed out by the allocator. */
export interface PageBlock {
  readonly pa: PhysAddr;
  readonly order: number;
}

export class PageAllocator {
  /** For a free block's first page: its order; -1 for every other page. */
  private readonly freeOrder: Int8Array;
  /** For a free block's first page: its index in lists[order]. */
  private readonly listIndex: Int32Array;
  private readonly lists: number[][] = Array.from({ length: MAX_ORDER + 1 }, () => []);
  private freePages = 0;

  /**
   * `pageCount` bounds the page frame numbers; `usable` are the ranges that start free.
   * `rng` decides which free block each allocation takes.
   */
  constructor(
    readonly pageCount: number,
    usable: readonly PhysRange[],
    private readonly rng: Prng,
  ) {
    this.freeOrder = new Int8Array(pageCount).fill(-1);
    this.listIndex = new Int32Array(pageCount).fill(-1);
    for (const r of usable) {
      if (r.start % PAGE_SIZE !== 0 || r.end % PAGE_SIZE !== 0 || r.end > pageCount * PAGE_SIZE) {
        throw new UsageError(`page allocator: range ${hex(r.start)}..${hex(r.end)} is not page-aligned inside the map`);
      }
      this.addRange(r.start / PAGE_SIZE, r.end / PAGE_SIZE);
    }
  }

  /** Pages currently free. */
  get freePageCount(): number {
    return this.freePages;
  }

  /** Carve [first, end) pfns into maximal naturally aligned free blocks. */
  private addRange(first: number, end: number): void {
    let p = first;
    while (p < end) {
      let order = MAX_ORDER;
      while (order > 0 && (p % (1 << order) !== 0 || p + (1 << order) > end)) order -= 1;
      this.push(p, order);
      p += 1 << order;
    }
  }

  private push(pfn: number, order: number): void {
    const list = this.lists[order]!;
    this.freeOrder[pfn] = order;
    this.listIndex[pfn] = list.length;
    list.push(pfn);
    this.freePages += 1 << order;
  }

  private remove(pfn: number): void {
    const order = this.freeOrder[pfn]!;
    const list = this.lists[order]!;
    const i = this.listIndex[pfn]!;
    const last = list.pop()!;
    if (last !== pfn) {
      list[i] = last;
      this.listIndex[last] = i;
    }
    this.freeOrder[pfn] = -1;
    this.listIndex[pfn] = -1;
    this.freePages -= 1 << order;
  }

  /** A free block of 2^order pages, naturally aligned; throws UsageError when memory is full. */
  alloc(order: number): PageBlock {
    if (!Number.isInteger(order) || order < 0 || order > MAX_ORDER) throw new RangeError(`alloc: order ${order} out of 0..${MAX_ORDER}`);
    let o = order;
    while (o <= MAX_ORDER && this.lists[o]!.length === 0) o += 1;
    if (o > MAX_ORDER) {
      throw new UsageError(`the world does not fit its memory: no free block of ${(PAGE_SIZE << order) / 1024} KiB left (use a larger --size or fewer objects)`);
    }
    const list = this.lists[o]!;
    const pfn = list[this.rng.int(list.length)]!;
    this.remove(pfn);
    // Split: the upper halves go back to the free lists.
    while (o > order) {
      o -= 1;
      this.push(pfn + (1 << o), o);
    }
    return { pa: phys(pfn * PAGE_SIZE), order };
  }

  /** One 4 KiB page. */
  allocPage(): PhysAddr {
    return this.alloc(0).pa;
  }

  /** Give a block back, merging it with free buddies. */
  free(block: PageBlock): void {
    let pfn = block.pa / PAGE_SIZE;
    let order = block.order;
    if (!Number.isInteger(pfn) || pfn % (1 << order) !== 0 || pfn + (1 << order) > this.pageCount) {
      throw new RangeError(`free: ${hex(block.pa)} is not an order-${order} block of this allocator`);
    }
    for (let p = pfn; p < pfn + (1 << order); p += 1) {
      if (this.containingFreeBlock(p) !== undefined) throw new RangeError(`free: page ${hex(p * PAGE_SIZE)} is already free`);
    }
    while (order < MAX_ORDER) {
      const buddy = pfn ^ (1 << order);
      if (buddy >= this.pageCount || this.freeOrder[buddy] !== order) break;
      this.remove(buddy);
      pfn = Math.min(pfn, buddy);
      order += 1;
    }
    this.push(pfn, order);
  }

  /** The free block containing `pfn`, if the page is free. */
  private containingFreeBlock(pfn: number): { head: number; order: number } | undefined {
    for (let order = 0; order <= MAX_ORDER; order += 1) {
      const head = pfn - (pfn % (1 << order));
      if (this.freeOrder[head] === order) return { head, order };
    }
    return undefined;
  }

  isFree(pa: PhysAddr): boolean {
    return this.containingFreeBlock(Math.floor(pa / PAGE_SIZE)) !== undefined;
  }

  /**
   * Take the pages of [pa, pa + length) out of the free lists (a kernel image, firmware
   * tables). Every page must be free; the rest of each block they sit in stays free.
   */
  reserve(pa: number, length: number): void {
    if (pa % PAGE_SIZE !== 0 || length % PAGE_SIZE !== 0 || length <= 0) {
      throw new RangeError(`reserve: ${hex(pa)} +${hex(length)} is not page-aligned`);
    }
    const first = pa / PAGE_SIZE;
    const end = first + length / PAGE_SIZE;
    let p = first;
    while (p < end) {
      const block = this.containingFreeBlock(p);
      if (block === undefined) throw new UsageError(`reserve: page ${hex(p * PAGE_SIZE)} is not free`);
      this.remove(block.head);
      const blockEnd = block.head + (1 << block.order);
      // Give back what lies outside [first, end), in aligned pieces.
      if (block.head < first) this.addRange(block.head, first);
      if (blockEnd > end) this.addRange(end, blockEnd);
      p = Math.min(blockEnd, end);
    }
  }

  /**
   * Fragment memory like a running system: allocate random-order blocks until `used` of
   * the free pages are taken, then free `freeBack` of those blocks again. Returns the
   * blocks still held and the ones freed (their pages keep stale contents in a real
   * kernel: free pages are not cleared without init_on_free).
   */
  churn(used: number, freeBack: number, orderWeights: readonly number[] = DEFAULT_CHURN_ORDERS): { held: PageBlock[]; freed: PageBlock[] } {
    if (!(used >= 0 && used < 1) || !(freeBack >= 0 && freeBack <= 1)) throw new RangeError('churn: fractions out of range');
    const target = Math.floor(this.freePages * used);
    const blocks: PageBlock[] = [];
    let taken = 0;
    while (taken < target) {
      let order = this.rng.weighted(orderWeights);
      while (order > 0 && 1 << order > target - taken) order -= 1;
      const b = this.tryAlloc(order);
      if (b === undefined) break;
      blocks.push(b);
      taken += 1 << order;
    }
    const held: PageBlock[] = [];
    const freed: PageBlock[] = [];
    for (const b of blocks) (this.rng.chance(freeBack) ? freed : held).push(b);
    for (const b of freed) this.free(b);
    return { held, freed };
  }

  private tryAlloc(order: number): PageBlock | undefined {
    for (let o = order; o <= MAX_ORDER; o += 1) if (this.lists[o]!.length > 0) return this.alloc(order);
    return undefined;
  }
}

/** Orders 0..10 weighted like a kernel's mix: mostly single pages, some slabs (1..3). */
export const DEFAULT_CHURN_ORDERS: readonly number[] = [60, 10, 10, 12, 3, 2, 1, 1, 0.5, 0.3, 0.2];
