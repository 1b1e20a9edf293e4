// Freed slab slots: SLUB keeps a free object's "next free object" pointer inside
// the object, at s->offset = ALIGN_DOWN(object_size / 2, 8) for caches without a
// constructor (mm/slub.c calculate_sizes, 6.1). With CONFIG_SLAB_FREELIST_HARDENED
// (Debian) the stored word is
//     next ^ s->random ^ swab(address of the word)        (mm/slub.c freelist_ptr)
// where s->random is a per-cache secret drawn at boot. `next` is NULL (end of the
// list) or another free object of the same slab (a slab's freelist never leaves its
// slab). So for every freed slot, stored ^ swab(addr) = random ^ next; the same
// value `random` recurs across the slots whose next is NULL, and under the right
// key every freed slot decodes to NULL or to a slot of its own slab.
//
// What this module does, without symbols: guess the slot stride from how the
// scan's candidates sit in slab blocks; for each possible free-pointer offset and
// each key hypothesis (the word of a candidate assuming next = NULL, or assuming
// next = another slot of its slab), count the candidates that decode plausibly; the
// best (offset, key) with at least two supporters wins. A kernel without the
// hardening is the hypothesis "key 0, no swab". A live task's word at that offset
// decodes to garbage under the key (probability of a plausible decode ~2^-60).
import type { PhysAddr } from '../../addr.js';
import { SLAB_MAX_BYTES } from './kernel-facts.js';
import { readU } from './task-layout.js';

export interface FreelistKey {
  /** Byte offset of the free pointer in the object. */
  offset: number;
  /** s->random, or undefined for a kernel without CONFIG_SLAB_FREELIST_HARDENED. */
  key?: bigint;
  /** Distance between slot starts in a slab (bytes), when it could be told. */
  stride?: number;
  /** Candidates that decode to a plausible next pointer under this key. */
  support: number;
  /** Offsets × key hypotheses tried. */
  hypotheses: number;
}

export interface SlotBytes {
  pa: PhysAddr;
  bytes: Uint8Array;
}

/** Byte-swap of a 64-bit value (include/uapi/linux/swab.h __swab64). */
export function swab64(v: bigint): bigint {
  let r = 0n;
  for (let i = 0; i < 8; i++) r = (r << 8n) | ((v >> BigInt(8 * i)) & 0xffn);
  return r;
}

/** Slot stride: the most common smallest gap between candidates inside one slab-sized block. */
export function slotStride(pas: readonly number[], alignment: number): number | undefined {
  const byBlock = new Map<number, number[]>();
  for (const pa of pas) {
    const block = pa - (pa % SLAB_MAX_BYTES);
    const list = byBlock.get(block);
    if (list) list.push(pa);
    else byBlock.set(block, [pa]);
  }
  const gaps = new Map<number, number>();
  for (const list of byBlock.values()) {
    if (list.length < 2) continue;
    list.sort((a, b) => a - b);
    let min = Infinity;
    for (let i = 1; i < list.length; i++) min = Math.min(min, list[i]! - list[i - 1]!);
    if (min % alignment === 0) gaps.set(min, (gaps.get(min) ?? 0) + 1);
  }
  let best: [number, number] | undefined;
  for (const [g, n] of gaps) if (!best || n > best[1] || (n === best[1] && g < best[0])) best = [g, n];
  return best?.[0];
}

/** The next pointer stored in a slot under a key (hardened) or as is (key undefined). */
export function decodeFreePointer(bytes: Uint8Array, va: bigint, offset: number, key: bigint | undefined): bigint | undefined {
  const word = readU(bytes, offset, 8);
  if (word === undefined) return undefined;
  return key === undefined ? word : word ^ key ^ swab64(va + BigInt(offset));
}

/** Is `next` NULL or another slot of the slab block holding the object at `pa`? */
export function plausibleNext(next: bigint, pa: number, pageOffsetBase: bigint, stride: number | undefined, alignment: number): boolean {
  if (next === 0n) return true;
  const nextPa = next - pageOffsetBase;
  if (nextPa < 0n || nextPa >= 1n << 52n) return false;
  const n = Number(nextPa);
  const block = pa - (pa % SLAB_MAX_BYTES);
  if (n === pa || n < block || n >= block + SLAB_MAX_BYTES) return false;
  return (n - block) % (stride ?? alignment) === 0;
}

export interface FreelistSearch {
  slots: readonly SlotBytes[];
  pageOffsetBase: bigint;
  /** Candidate alignment (the cache's, 64 for task_struct). */
  alignment: number;
  /** Range of offsets the free pointer may take when the stride is unknown: [from, to). */
  window: { from: number; to: number };
}

/** Find the free-pointer offset and key by consensus; undefined when no hypothesis has two supporters. */
export function findFreelistKey(s: FreelistSearch): FreelistKey | undefined {
  const stride = slotStride(
    s.slots.map((x) => x.pa),
    s.alignment,
  );
  // With the stride known, object_size lies in (stride - alignment, stride] (SLUB rounds
  // the size up to the cache alignment, the free pointer being inside the object).
  const offsets = new Set<number>();
  if (stride !== undefined) {
    for (let size = stride - s.alignment + 1; size <= stride; size++) {
      const o = Math.floor(size / 2) - (Math.floor(size / 2) % 8);
      if (o >= s.window.from && o < s.window.to) offsets.add(o);
    }
  }
  if (offsets.size === 0) for (let o = s.window.from; o < s.window.to; o += 8) offsets.add(o);

  let best: FreelistKey | undefined;
  let hypotheses = 0;
  const vaOf = (pa: number): bigint => s.pageOffsetBase + BigInt(pa);
  for (const offset of offsets) {
    const keys = new Set<bigint | undefined>([undefined]);
    for (const { pa, bytes } of s.slots) {
      const word = readU(bytes, offset, 8);
      if (word === undefined || word === 0n) continue;
      const k = word ^ swab64(vaOf(pa) + BigInt(offset));
      keys.add(k);
      if (stride !== undefined) {
        const block = pa - (pa % SLAB_MAX_BYTES);
        for (let slot = block; slot + stride <= block + SLAB_MAX_BYTES; slot += stride) {
          if (slot !== pa) keys.add(k ^ vaOf(slot));
        }
      }
    }
    for (const key of keys) {
      hypotheses += 1;
      let support = 0;
      for (const { pa, bytes } of s.slots) {
        const word = readU(bytes, offset, 8);
        // An all-zero word is what most live tasks hold there; it supports nothing.
        if (word === undefined || word === 0n) continue;
        const next = decodeFreePointer(bytes, vaOf(pa), offset, key);
        if (next !== undefined && plausibleNext(next, pa, s.pageOffsetBase, stride, s.alignment)) support += 1;
      }
      if (support >= 2 && (best === undefined || support > best.support)) {
        best = { offset, ...(key !== undefined ? { key } : {}), ...(stride !== undefined ? { stride } : {}), support, hypotheses: 0 };
      }
    }
  }
  return best && { ...best, hypotheses };
}
