// Background pool pages: pages of other allocations (files, events, IRPs, registry cells,
// threads, tokens...) with consistent _POOL_HEADER chains, so that a pool walker or a tag
// scanner meets real-looking pool everywhere, not only around the world's objects. No block
// carries the process tag (decoys.ts places those on purpose).
import { FIRST_WORLD_KIND, type NoiseEnv, type TemplatePage } from '../noise.js';
import type { Prng } from '../prng.js';
import { type WinLayout, poolTagBytes } from './layout.js';
import { FILLER_TAGS } from './pool.js';

/** The world kind of background pool pages. */
export const POOL_NOISE_KIND = FIRST_WORLD_KIND;

/** A template builder for pool pages of build `w`. */
export function poolPageTemplate(w: WinLayout, typeValue: { nonpaged: number; paged: number }, protectedTags: boolean) {
  const hs = w.sizes.poolHeader;
  const g = w.gran;
  const maxBlock = Math.min(4096 - g, ((1 << w.L.member('_POOL_HEADER', 'BlockSize').bits!.length) - 1) * g);
  return (rng: Prng, env: NoiseEnv, page: TemplatePage): void => {
    const paged = rng.chance(0.5);
    // One size class per page mostly (lookaside-like), with some odd blocks.
    const common = g * (2 + rng.int(30));
    let off = 0;
    let prev = 0;
    while (off < 4096) {
      const left = 4096 - off;
      let size = rng.chance(0.7) ? common : g * (1 + rng.int(64));
      if (size > left || left - size < g) size = left;
      size = Math.min(size, maxBlock, left);
      const free = rng.chance(0.2);
      const h = w.struct('_POOL_HEADER', page.bytes, off);
      h.set('PreviousSize', prev / g);
      h.set('BlockSize', size / g);
      h.set('PoolType', free ? 0 : paged ? typeValue.paged : typeValue.nonpaged);
      h.set('PoolIndex', free || !paged ? 0 : 1 + rng.int(4));
      const tag = rng.pick(FILLER_TAGS);
      h.set('PoolTag', new DataView(poolTagBytes(tag, protectedTags && /^[A-Z][a-z]{2}[a-z ]$/.test(tag) && rng.chance(0.5)).buffer).getUint32(0, true));
      // Data: a list entry, pointers, small counts.
      const ps = env.pointerSize;
      for (let at = off + hs; at + ps <= off + size; at += ps) {
        const r = rng.float();
        if (r < 0.2) page.ptr(at, env.heapPointer(rng));
        else if (r < 0.3) page.selfPtr(at, at);
        else if (r < 0.45) page.u32(at, rng.int(64));
        else if (r < 0.5) page.ptr(at, env.codePointer(rng));
      }
      prev = size;
      off += size;
    }
  };
}
