// The kernel pool of a Windows world: 4 KiB pool pages carved into blocks, each starting
// with a _POOL_HEADER (PreviousSize, PoolIndex, BlockSize, PoolType, PoolTag), blocks
// tiling the page so that a walker can go from block to block (BlockSize) and back
// (PreviousSize). Objects share pages with other allocations and with free blocks.
//
// Facts (facts files, pool; Volatility 3 framework/symbols/windows/extensions/pool.py):
// - header size and BlockSize unit: 8 on x86, 16 on x64;
// - PoolType 0 = free; before Vista odd = non-paged, even = paged; from Vista on odd =
//   paged, even and non-zero = non-paged;
// - object tags carry bit 31 (protected) before Windows 8 ('Pro\xe3').
// - A freed block keeps its tag; the pool writes its free-list LIST_ENTRY at the start of
//   the block's data (after the header), and a later, smaller allocation may split it:
//   the front becomes the new allocation, the rest a free block with its own header.
// Blocks of a page never cross the page; allocations of a page or more ("big pool") are
// whole pages without a header (handle-table pages here).
import { hex } from '../../addr.js';
import type { PhysCanvas } from '../canvas.js';
import { PAGE_SIZE } from '../memory-map.js';
import { NoiseKind } from '../noise.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { Prng } from '../prng.js';
import type { PoolKind, WinKernelSpace } from './address-space.js';
import { type WinLayout, poolTagBytes, roundUp } from './layout.js';

/** Tags of other allocations that share pool pages (common NT tags: files, events, IRPs, registry, NTFS, ...). */
export const FILLER_TAGS = ['File', 'Even', 'Irp ', 'MmCa', 'Ntfx', 'CM35', 'IoNm', 'Sema', 'Mutx', 'ObNm', 'Vad ', 'VadS', 'Toke', 'Thre', 'Key ', 'MmSt', 'FMfc', 'Ntfr', 'Wait', 'TcpE', 'SeTl', 'ALPC', 'Devi', 'Driv'];
/** Object types' tags carry the protected bit before Windows 8 (these are the object tags among FILLER_TAGS). */
const OBJECT_TAGS = new Set(['File', 'Even', 'Sema', 'Mutx', 'Toke', 'Thre', 'Key ', 'Devi', 'Driv', 'ALPC', 'Wait']);

/** Stored PoolType of allocated blocks per the facts' rule (before Vista odd = non-paged; after, odd = paged). */
export function poolTypeValues(w: WinLayout): Record<PoolKind, number> {
  return /odd = non-paged/.test(w.build.facts.pool.pool_type_rule) ? { nonpaged: 1, paged: 2 } : { nonpaged: 2, paged: 3 };
}

export interface PoolBlock {
  readonly kind: PoolKind;
  readonly pa: number;
  readonly va: bigint;
  /** Bytes of the block, header included (BlockSize · granularity). */
  readonly size: number;
  /** The whole block as it will be written (header, optional headers, object header, body). */
  readonly bytes: Uint8Array;
  readonly tag: string;
  /** Set when the block was freed and its front reused by a smaller allocation of this many bytes. */
  split?: number;
  freed?: boolean;
}

interface Entry {
  off: number;
  size: number;
  block?: PoolBlock;
  /** Filler: another allocation (tag) or a free block (type 0). */
  tag?: string;
  free?: boolean;
}

interface PoolPage {
  readonly kind: PoolKind;
  readonly pa: number;
  readonly va: bigint;
  readonly entries: Entry[];
  cursor: number;
}

export class Pool {
  private readonly open: Record<PoolKind, PoolPage[]> = { nonpaged: [], paged: [] };
  private readonly pages: PoolPage[] = [];
  readonly blocks: PoolBlock[] = [];
  private readonly protectedTags: boolean;
  /** Stored PoolType of an allocated block, per the facts' rule. */
  readonly typeValue: Record<PoolKind, number>;

  constructor(
    private readonly w: WinLayout,
    private readonly ks: WinKernelSpace,
    private readonly allocator: PageAllocator,
    private readonly content: PageContent,
    private readonly rng: Prng,
  ) {
    this.protectedTags = w.build.facts.pool.process_tag.protected;
    this.typeValue = poolTypeValues(w);
  }

  /** The 4 stored tag bytes of an object tag (protected bit per build) or a plain tag. */
  tagBytes(tag: string, object: boolean): Uint8Array {
    return poolTagBytes(tag, object && this.protectedTags);
  }

  /** PoolIndex of a new block: 0 in nonpaged pool, one of the paged pools otherwise. */
  private poolIndex(kind: PoolKind): number {
    return kind === 'nonpaged' ? 0 : 1 + this.rng.int(4);
  }

  private newPage(kind: PoolKind): PoolPage {
    const pa = this.allocator.allocPage();
    this.content.setKind(pa, PAGE_SIZE, NoiseKind.slab);
    const page: PoolPage = { kind, pa, va: this.ks.mapPoolPage(kind, pa), entries: [], cursor: 0 };
    this.pages.push(page);
    return page;
  }

  /** A whole page of pool without a header (a big-pool allocation); zero-filled. */
  bigPage(kind: PoolKind): { pa: number; va: bigint } {
    const pa = this.allocator.allocPage();
    this.content.setKind(pa, PAGE_SIZE, NoiseKind.zero);
    return { pa, va: this.ks.mapPoolPage(kind, pa) };
  }

  /**
   * A block of at least `bytes` bytes (header included, rounded to the granularity) with
   * `tag`; `object` marks an object tag (protected before Windows 8).
   */
  alloc(kind: PoolKind, bytes: number, tag: string, object: boolean): PoolBlock {
    const size = roundUp(bytes, this.w.gran);
    const maxBlock = this.maxBlockSize();
    if (size > maxBlock) throw new Error(`synth windows: a ${size}-byte pool block exceeds the ${maxBlock}-byte maximum (world bug)`);
    const open = this.open[kind];
    let page = open.find((p) => p.cursor + size <= PAGE_SIZE && this.rng.chance(0.7));
    if (page === undefined) {
      page = this.newPage(kind);
      open.push(page);
      if (open.length > 3) open.splice(this.rng.int(open.length - 1), 1);
    }
    // Another allocation got here first now and then.
    if (this.rng.chance(0.35)) {
      const room = PAGE_SIZE - page.cursor - size;
      const filler = Math.min(room, this.w.gran * (2 + this.rng.int(24)));
      if (filler >= 2 * this.w.gran) this.addFiller(page, filler);
    }
    const off = page.cursor;
    const block: PoolBlock = { kind, pa: page.pa + off, va: page.va + BigInt(off), size, bytes: new Uint8Array(size), tag };
    page.entries.push({ off, size, block });
    page.cursor += size;
    const h = this.w.struct('_POOL_HEADER', block.bytes, 0);
    h.set('PoolTag', new DataView(this.tagBytes(tag, object).buffer).getUint32(0, true));
    h.set('PoolType', this.typeValue[kind]);
    h.set('PoolIndex', this.poolIndex(kind));
    this.blocks.push(block);
    return block;
  }

  /** Largest BlockSize · granularity the header can hold within a page. */
  maxBlockSize(): number {
    const bits = this.w.L.member('_POOL_HEADER', 'BlockSize').bits!.length;
    return Math.min(PAGE_SIZE - this.w.gran, ((1 << bits) - 1) * this.w.gran);
  }

  private addFiller(page: PoolPage, size: number): void {
    const free = this.rng.chance(0.25);
    page.entries.push({ off: page.cursor, size, tag: this.rng.pick(FILLER_TAGS), free });
    page.cursor += size;
  }

  /**
   * Free `block` as the pool does: PoolType 0, the free-list links written over the first
   * bytes of its data. With `reuse`, a later allocation of `reuse` bytes takes its front
   * (new header and data) and the rest stays free behind a header of its own.
   */
  free(block: PoolBlock, reuse: number | undefined, rng: Prng): void {
    const hs = this.w.sizes.poolHeader;
    const ps = this.w.ptrSize;
    const h = this.w.struct('_POOL_HEADER', block.bytes, 0);
    h.set('PoolType', 0);
    block.freed = true;
    const link = (at: number) => {
      const v = new DataView(block.bytes.buffer, block.bytes.byteOffset);
      for (const k of [0, 1]) {
        const p = this.ks.poolPointer(rng, block.kind) + BigInt(hs);
        if (ps === 8) v.setBigUint64(at + k * 8, p, true);
        else v.setUint32(at + k * 4, Number(BigInt.asUintN(32, p)), true);
      }
    };
    if (reuse === undefined) {
      link(hs);
      return;
    }
    const front = roundUp(Math.max(2 * this.w.gran, Math.min(reuse, block.size - 2 * this.w.gran)), this.w.gran);
    block.split = front;
    // The new allocation: its header and data over the front.
    const nh = this.w.struct('_POOL_HEADER', block.bytes, 0);
    nh.set('PoolType', this.typeValue[block.kind]);
    nh.set('PoolTag', new DataView(this.tagBytes(rng.pick(FILLER_TAGS), false).buffer).getUint32(0, true));
    rng.fill(block.bytes.subarray(hs, front));
    // The free rest: a header at `front` (its tag bytes keep whatever was there), linked.
    const rest = this.w.struct('_POOL_HEADER', block.bytes, front);
    rest.set('PoolType', 0);
    rest.set('PoolIndex', 0);
    link(front + hs);
  }

  /**
   * Close every page: fill what is left after the last block, then write each block's
   * BlockSize and PreviousSize (the chain) and the filler headers. Object blocks get their
   * sizes in their own bytes; call before committing them.
   */
  finish(canvas: PhysCanvas): void {
    const g = this.w.gran;
    for (const page of this.pages) {
      while (page.cursor < PAGE_SIZE) {
        const left = PAGE_SIZE - page.cursor;
        const size = left <= this.maxBlockSize() && (left <= 32 * g || this.rng.chance(0.5)) ? left : roundUp(Math.min(left - g, g * (2 + this.rng.int(60))), g);
        this.addFiller(page, Math.min(size, this.maxBlockSize()));
      }
      let prev = 0;
      for (const e of page.entries) {
        const segments = e.block?.split !== undefined ? [e.block.split, e.size - e.block.split] : [e.size];
        let segOff = 0;
        for (const seg of segments) {
          const bytes = e.block ? e.block.bytes : new Uint8Array(g);
          const at = e.block ? segOff : 0;
          const h = this.w.struct('_POOL_HEADER', bytes, at);
          h.set('PreviousSize', prev / g);
          h.set('BlockSize', seg / g);
          if (!e.block) {
            h.set('PoolType', e.free ? 0 : this.typeValue[page.kind]);
            h.set('PoolIndex', e.free ? 0 : this.poolIndex(page.kind));
            h.set('PoolTag', new DataView(this.tagBytes(e.tag!, OBJECT_TAGS.has(e.tag!)).buffer).getUint32(0, true));
            canvas.write(page.pa + e.off, bytes.subarray(0, this.w.sizes.poolHeader));
          }
          prev = seg;
          segOff += seg;
        }
      }
    }
  }

  describe(block: PoolBlock): string {
    return `${block.tag} block at ${hex(block.pa)} (${block.size} bytes)`;
  }
}
