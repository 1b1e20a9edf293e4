// Walking the kernel's circular doubly linked lists (include/linux/list.h) in a
// dead image, with guards: a cycle that does not pass the head again, a list
// longer than any the kernel can hold, an unreadable or poisoned link. The walk
// stops and says why; it never loops or throws on bad links.
import { type PhysAddr, hex, virt } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import type { KernelSpace } from '../../signatures/edges.js';
import { LIST_POISON1, LIST_POISON2 } from './kernel-facts.js';
import { readU } from './task-layout.js';

/**
 * More tasks than the kernel can have: PID_MAX_LIMIT = 4 * 1024 * 1024 on 64-bit
 * (include/linux/threads.h), each task holding one pid.
 */
export const MAX_LIST_LENGTH = 4 * 1024 * 1024;

export interface KernelListWalk {
  /** Containers reached, in list order: VA and PA of each (head's container excluded). */
  entries: Array<{ va: bigint; pa: PhysAddr }>;
  stoppedBecause?: string;
}

export interface WalkOptions {
  /** Subtract from each node's VA to get its container (offsetof the list_head member). */
  containerDelta: number;
  /** Offset of `next` inside list_head (from the layout). */
  nextOffset: number;
  limit?: number;
}

/** Follow `next` from the list head at `head` (a kernel VA) until it comes back to it. */
export function walkKernelList(space: KernelSpace, head: bigint, options: WalkOptions): KernelListWalk {
  const limit = options.limit ?? MAX_LIST_LENGTH;
  const entries: KernelListWalk['entries'] = [];
  const seen = new Set<bigint>([head]);
  const readNext = (node: bigint): bigint => {
    const pa = space.translateVirt(virt(node + BigInt(options.nextOffset)));
    return readU(space.readPhys(pa, 8), 0, 8)!;
  };
  let node: bigint;
  try {
    node = readNext(head);
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return { entries, stoppedBecause: `the list head at ${hex(head)} is unreadable: ${(err as Error).message}` };
    throw err;
  }
  while (node !== head) {
    if (node === LIST_POISON1 || node === LIST_POISON2) return { entries, stoppedBecause: `a poisoned link (${hex(node)}, LIST_POISON) after ${entries.length} entries` };
    if (node === 0n) return { entries, stoppedBecause: `a NULL link after ${entries.length} entries` };
    if (seen.has(node)) return { entries, stoppedBecause: `a cycle: ${hex(node)} again after ${entries.length} entries without returning to the head` };
    if (entries.length >= limit) return { entries, stoppedBecause: `the length guard (${limit} entries)` };
    seen.add(node);
    const va = node - BigInt(options.containerDelta);
    try {
      const pa = space.translateVirt(virt(va));
      const next = readNext(node);
      entries.push({ va, pa });
      node = next;
    } catch (err) {
      if (err instanceof InvalidAddressError || err instanceof RangeError) {
        return { entries, stoppedBecause: `an unreadable link ${hex(node)} after ${entries.length} entries: ${(err as Error).message}` };
      }
      throw err;
    }
  }
  return { entries };
}
