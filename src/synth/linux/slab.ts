// A SLUB cache: objects at a fixed stride in slabs of 2^order pages, handed out in a
// random order per slab, with the free pointer of every free object written the way a
// kernel with CONFIG_SLAB_FREELIST_HARDENED writes it.
//
// Facts (Linux 6.1, mm/slub.c):
// - calculate_sizes: a cache without a constructor and without SLAB_TYPESAFE_BY_RCU /
//   SLAB_POISON keeps the free pointer inside the object, at
//   s->offset = ALIGN_DOWN(s->object_size / 2, sizeof(void *)) (Kees Cook's 2020 patches
//   moved the free pointer to the middle of the object; this form is in 6.1's
//   calculate_sizes). task_struct: object_size = arch_task_struct_size 8392 → offset 4192.
// - freelist_ptr with CONFIG_SLAB_FREELIST_HARDENED (Debian sets it) stores
//   ptr ^ s->random ^ swab(ptr_addr), ptr_addr = object + s->offset, s->random a
//   per-cache random long (kmem_cache_open: get_random_long()).
// - CONFIG_SLAB_FREELIST_RANDOM (Debian sets it) shuffles each new slab's free list, so
//   objects are handed out in a random slot order.
// - A freed object keeps its bytes except the free pointer (no init_on_free by default).
// Checked on the real images: every exited task slot in datasets/build/train holds at
// +4192 a value that equals next ^ random ^ swab(slot + 4192) with next = 0 or another
// free slot of its slab, one `random` per image.
import { type PhysAddr, hex } from '../../addr.js';
import { PAGE_SIZE } from '../memory-map.js';
import type { PageAllocator } from '../page-allocator.js';
import type { PageContent } from '../page-content.js';
import type { PhysCanvas } from '../canvas.js';
import type { Prng } from '../prng.js';

/** Byte-swap a 64-bit value (swab64). */
export function swab64(x: bigint): bigint {
  let out = 0n;
  for (let i = 0n; i < 8n; i += 1n) out |= ((x >> (i * 8n)) & 0xffn) << ((7n - i) * 8n);
  return out;
}

/** The stored form of a free pointer (freelist_ptr, hardened). */
export function hardenedFreePointer(next: bigint, random: bigint, slotVa: bigint, offset: number): bigint {
  return BigInt.asUintN(64, next ^ random ^ swab64(slotVa + BigInt(offset)));
}

/** Decode a stored free pointer back to the next free object's va (0n = end of list). */
export function decodeFreePointer(stored: bigint, random: bigint, slotVa: bigint, offset: number): bigint {
  return BigInt.asUintN(64, stored ^ random ^ swab64(slotVa + BigInt(offset)));
}

export interface SlabObject {
  readonly pa: number;
  readonly va: bigint;
}

interface Slab {
  readonly pa: number;
  /** Slot indexes not yet handed out, in the (shuffled) order they will be. */
  readonly fresh: number[];
  /** Freed slots, most recent first (SLUB pushes frees on the list head). */
  readonly freed: number[];
}

export interface SlabCacheOptions {
  readonly name: string;
  /** kmem_cache.object_size (bytes the user asked for). */
  readonly objectSize: number;
  /** Cache alignment (objects are object_size rounded up to it). */
  readonly align: number;
  readonly order: number;
  /** Content kind of a new slab's pages before objects are written (stale contents). */
  readonly backgroundKind?: number;
}

export class SlabCache {
  readonly stride: number;
  readonly perSlab: number;
  /** s->offset. */
  readonly freePointerOffset: number;
  /** s->random. */
  readonly random: bigint;
  private readonly slabs: Slab[] = [];
  private current: Slab | undefined;

  constructor(
    readonly options: SlabCacheOptions,
    private readonly env: { pages: PageAllocator; content: PageContent; canvas: PhysCanvas; directVa: (pa: number) => bigint },
    private readonly rng: Prng,
  ) {
    this.stride = Math.ceil(options.objectSize / options.align) * options.align;
    this.perSlab = Math.floor((PAGE_SIZE << options.order) / this.stride);
    if (this.perSlab < 1) throw new RangeError(`slab ${options.name}: object of ${this.stride} bytes does not fit order ${options.order}`);
    this.freePointerOffset = Math.floor(options.objectSize / 2 / 8) * 8;
    this.random = rng.u64();
  }

  private newSlab(): Slab {
    const block = this.env.pages.alloc(this.options.order);
    if (this.options.backgroundKind !== undefined) this.env.content.setKind(block.pa, PAGE_SIZE << this.options.order, this.options.backgroundKind);
    const fresh = this.rng.shuffle(Array.from({ length: this.perSlab }, (_, i) => i));
    const slab: Slab = { pa: block.pa, fresh, freed: [] };
    this.slabs.push(slab);
    return slab;
  }

  /** The next object, as the allocator would hand it out (freed objects first, then fresh ones). */
  alloc(): SlabObject {
    let slab = this.current;
    if (slab === undefined || (slab.fresh.length === 0 && slab.freed.length === 0)) {
      slab = this.newSlab();
      this.current = slab;
    }
    const slot = slab.freed.length > 0 ? slab.freed.shift()! : slab.fresh.shift()!;
    const pa = slab.pa + slot * this.stride;
    return { pa, va: this.env.directVa(pa) };
  }

  /** Free an object: it goes to the head of its slab's free list. */
  free(obj: SlabObject): void {
    const slab = this.slabs.find((s) => obj.pa >= s.pa && obj.pa < s.pa + (PAGE_SIZE << this.options.order));
    const slot = slab === undefined ? -1 : (obj.pa - slab.pa) / this.stride;
    if (slab === undefined || !Number.isInteger(slot) || slab.fresh.includes(slot) || slab.freed.includes(slot)) {
      throw new RangeError(`slab ${this.options.name}: ${hex(obj.pa)} is not an allocated object`);
    }
    slab.freed.unshift(slot);
  }

  /** Every slab's first page. */
  slabAddresses(): PhysAddr[] {
    return this.slabs.map((s) => s.pa as PhysAddr);
  }

  /** Free objects of every slab, in free-list order (freed first, then never used). */
  freeObjects(): SlabObject[][] {
    return this.slabs.map((s) => [...s.freed, ...s.fresh].map((slot) => {
      const pa = s.pa + slot * this.stride;
      return { pa, va: this.env.directVa(pa) };
    }));
  }

  /**
   * Write the hardened free pointer of every free object into the canvas: each points
   * at the next free object of its slab, the last at NULL. Call after all objects are
   * written (a free pointer overwrites 8 bytes of whatever the slot holds).
   */
  writeFreePointers(): void {
    for (const list of this.freeObjects()) {
      list.forEach((obj, i) => {
        const next = i + 1 < list.length ? list[i + 1]!.va : 0n;
        this.env.canvas.writeU64(obj.pa + this.freePointerOffset, hardenedFreePointer(next, this.random, obj.va, this.freePointerOffset));
      });
    }
  }
}
