// Builds page tables for any PagingMode: the synthetic-world generator uses it to give
// its kernels and processes real address spaces, and the paging tests use it to make
// random tables. Tables live in the builder (a map from physical page to 4 KiB) until
// copied into a physical layer with writeTo(), or streamed with tablePages(); the
// builder is itself a PhysReadable, so a PagingTranslator can walk it directly.
import { type PhysAddr, type VirtAddr, hex, phys } from '../addr.js';
import { InvalidAddressError, UsageError } from '../errors.js';
import {
  type PagingMode,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_GLOBAL,
  PTE_HI_NX,
  PTE_PRESENT,
  PTE_PS,
  PTE_USER,
  PTE_WRITABLE,
  isCanonical,
  pageSizes,
} from './paging-modes.js';
import type { PhysReadable } from './physical.js';

const PAGE = 4096;

/** Hands out free, 4 KiB-aligned physical pages for tables. */
export type TableAllocator = () => PhysAddr;

/** Allocate table pages upward from `start` (rounded up to 4 KiB), failing past `end`. */
export function bumpAllocator(start: number, end: number): TableAllocator {
  let next = Math.ceil(start / PAGE) * PAGE;
  return () => {
    if (next + PAGE > end) throw new UsageError(`page-table allocator: no room left below ${hex(end)}`);
    const page = phys(next);
    next += PAGE;
    return page;
  };
}

export interface MapFlags {
  /** R/W (default true). */
  readonly writable?: boolean;
  /** U/S: user-accessible (default false: supervisor only). */
  readonly user?: boolean;
  /** G (default false). */
  readonly global?: boolean;
  /** XD, bit 63 (default false). */
  readonly noExecute?: boolean;
}

/** Something physical memory can be written to (MemoryPhysical, a generator's image). */
export interface PhysWritable {
  writePhys(pa: PhysAddr, bytes: Uint8Array): void;
}

export class PageTableBuilder implements PhysReadable {
  /** The value for CR3: the root table's address. */
  readonly root: PhysAddr;
  private readonly pages = new Map<number, Uint8Array>();
  private readonly sizes: number[];

  constructor(
    readonly mode: PagingMode,
    private readonly allocate: TableAllocator,
  ) {
    this.root = this.newTable();
    this.sizes = pageSizes(mode);
  }

  private newTable(): PhysAddr {
    const pa = this.allocate();
    if (pa % PAGE !== 0) throw new UsageError(`page-table allocator returned ${hex(pa)}, not 4 KiB-aligned`);
    if (this.pages.has(pa)) throw new UsageError(`page-table allocator returned ${hex(pa)} twice`);
    this.pages.set(pa, new Uint8Array(PAGE));
    return pa;
  }

  private entryView(tablePa: number, index: number): DataView {
    const page = this.pages.get(tablePa)!;
    return new DataView(page.buffer, page.byteOffset + index * this.mode.entrySize, this.mode.entrySize);
  }

  private indexAt(va: bigint, depth: number): number {
    const level = this.mode.levels[depth]!;
    return Number((va >> BigInt(level.shift)) & ((1n << BigInt(level.bits)) - 1n));
  }

  /**
   * The table at `depth` on the path to `va`, creating missing tables on the way.
   * Throws when an entry above is a large page (the range is already mapped).
   */
  private tableFor(va: bigint, depth: number): number {
    let table: number = this.root;
    for (let d = 0; d < depth; d++) {
      const level = this.mode.levels[d]!;
      const view = this.entryView(table, this.indexAt(va, d));
      const lo = view.getUint32(0, true);
      if ((lo & PTE_PRESENT) !== 0 && (lo & PTE_PS) !== 0 && level.largePage) {
        throw new UsageError(`map ${hex(va)}: already inside a ${2 ** level.shift}-byte page mapped at the ${level.name} level`);
      }
      if ((lo & PTE_PRESENT) === 0) {
        // Absent (or non-present junk): give it a fresh table.
        const next = this.newTable();
        // Tables allow everything; the leaf decides (how Linux and Windows build them).
        const flags = level.tableFlags ? PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_ACCESSED : PTE_PRESENT;
        view.setUint32(0, (next % 2 ** 32) + flags, true);
        view.setUint32(4, Math.floor(next / 2 ** 32), true);
        table = next;
      } else {
        table = (view.getUint32(4, true) & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
        if (!this.pages.has(table)) {
          throw new UsageError(`map ${hex(va)}: ${level.name} entry points at ${hex(table)}, which this builder did not make`);
        }
      }
    }
    return table;
  }

  private checkVa(va: bigint, what: string): void {
    if (!isCanonical(this.mode, va)) throw new UsageError(`${what}: ${hex(va)} is not a canonical ${this.mode.name} address`);
  }

  /** Map one page of `size` bytes (4 KiB, or a large size the mode allows) at `va` to `pa`. */
  map(va: VirtAddr, pa: PhysAddr, size: number, flags: MapFlags = {}): void {
    const depth = this.mode.levels.findIndex((l, i) => 2 ** l.shift === size && (l.largePage || i === this.mode.levels.length - 1));
    if (depth < 0) throw new UsageError(`map: ${this.mode.name} has no ${size}-byte pages (has ${this.sizes.join(', ')})`);
    const v = BigInt(va);
    this.checkVa(v, 'map');
    if (v % BigInt(size) !== 0n || pa % size !== 0) {
      throw new UsageError(`map: ${hex(va)} → ${hex(pa)} is not aligned to the ${size}-byte page`);
    }
    const table = this.tableFor(v, depth);
    const view = this.entryView(table, this.indexAt(v, depth));
    const isLast = depth === this.mode.levels.length - 1;
    const lo = view.getUint32(0, true);
    if (!isLast && (lo & PTE_PRESENT) !== 0 && (lo & PTE_PS) === 0) {
      throw new UsageError(`map ${hex(va)}: a table of smaller pages is already mapped there`);
    }
    let bits = PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY;
    if (flags.writable !== false) bits |= PTE_WRITABLE;
    if (flags.user === true) bits |= PTE_USER;
    if (flags.global === true) bits |= PTE_GLOBAL;
    if (!isLast) bits |= PTE_PS;
    view.setUint32(0, ((pa % 2 ** 32) + bits) >>> 0, true);
    view.setUint32(4, (Math.floor(pa / 2 ** 32) | (flags.noExecute === true ? PTE_HI_NX : 0)) >>> 0, true);
  }

  /**
   * Map [va, va + length) to [pa, pa + length) with the largest pages both addresses'
   * alignment allows (up to `maxPageSize`). length, va and pa must be 4 KiB-aligned.
   */
  mapRange(va: VirtAddr, pa: PhysAddr, length: number, flags: MapFlags = {}, maxPageSize = Infinity): void {
    if (length % PAGE !== 0 || pa % PAGE !== 0 || BigInt(va) % BigInt(PAGE) !== 0n) {
      throw new UsageError(`mapRange: ${hex(va)} → ${hex(pa)} (+${hex(length)}) is not 4 KiB-aligned`);
    }
    let done = 0;
    while (done < length) {
      const v = BigInt(va) + BigInt(done);
      const p = pa + done;
      let size = PAGE;
      for (const s of this.sizes) {
        if (s <= maxPageSize && s <= length - done && v % BigInt(s) === 0n && p % s === 0) size = s;
      }
      this.map(v as VirtAddr, phys(p), size, flags);
      done += size;
    }
  }

  /**
   * Clear the Present bit of the leaf that maps `va`, keeping its other bits, like a
   * swapped-out or PROT_NONE entry: walkers must treat it as unmapped despite the junk.
   */
  unmap(va: VirtAddr): void {
    const v = BigInt(va);
    this.checkVa(v, 'unmap');
    let table: number = this.root;
    for (let d = 0; d < this.mode.levels.length; d++) {
      const level = this.mode.levels[d]!;
      const view = this.entryView(table, this.indexAt(v, d));
      const lo = view.getUint32(0, true);
      if ((lo & PTE_PRESENT) === 0) throw new UsageError(`unmap: ${hex(va)} is not mapped`);
      if (d === this.mode.levels.length - 1 || (level.largePage && (lo & PTE_PS) !== 0)) {
        view.setUint32(0, (lo & ~PTE_PRESENT) >>> 0, true);
        return;
      }
      table = (view.getUint32(4, true) & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
    }
  }

  /**
   * Write a raw entry at `depth` (0 = root) on the path to `va`, creating the tables
   * above it. For what map() cannot express: self-referencing entries, odd flag bits.
   */
  setEntry(va: VirtAddr, depth: number, value: bigint): void {
    if (!Number.isInteger(depth) || depth < 0 || depth >= this.mode.levels.length) {
      throw new UsageError(`setEntry: depth ${depth} is not a level of ${this.mode.name}`);
    }
    const v = BigInt(va);
    this.checkVa(v, 'setEntry');
    const view = this.entryView(this.tableFor(v, depth), this.indexAt(v, depth));
    view.setBigUint64(0, BigInt.asUintN(64, value), true);
  }

  /** The table pages, ascending by physical address. */
  tablePages(): { paddr: PhysAddr; bytes: Uint8Array }[] {
    return [...this.pages.entries()].sort((a, b) => a[0] - b[0]).map(([paddr, bytes]) => ({ paddr: phys(paddr), bytes }));
  }

  /** Copy every table page into `target`. */
  writeTo(target: PhysWritable): void {
    for (const { paddr, bytes } of this.tablePages()) target.writePhys(paddr, bytes);
  }

  /** Bytes of the builder's own table pages; anything else is not here. */
  readPhys(pa: PhysAddr, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const at = pa + done;
      const pageBase = at - (at % PAGE);
      const page = this.pages.get(pageBase);
      if (page === undefined) throw new InvalidAddressError('physical', BigInt(at), 'not a page table of this builder');
      const n = Math.min(length - done, pageBase + PAGE - at);
      out.set(page.subarray(at - pageBase, at - pageBase + n), done);
      done += n;
    }
    return out;
  }
}
