// The direct-map base from the objects themselves. An empty list_head points to
// itself (include/linux/list.h INIT_LIST_HEAD), and task_struct.cpus_ptr points
// to the task's own cpus_mask (kernel/fork.c dup_task_struct): such a pointer is
// the VA of a byte whose PA the scan knows, so VA − PA is the offset of the map the
// object lives in. Slab objects vote for page_offset_base (1 GiB aligned under
// KASLR: arch/x86/mm/kaslr.c), init_task in the kernel image votes for the
// kernel-image offset. Each object votes once per distinct offset; the consensus
// wins, and its support is reported.
import type { PhysAddr } from '../../addr.js';
import { DIRECT_MAP_ALIGN, DIRECT_MAP_RANGE_L4, DIRECT_MAP_RANGE_L5, START_KERNEL_MAP } from './kernel-facts.js';
import { readU, type TaskLayout } from './task-layout.js';

export interface CandidateBytes {
  pa: PhysAddr;
  bytes: Uint8Array;
}

export interface Consensus {
  value: bigint;
  /** Objects voting for the value. */
  votes: number;
  /** Objects that cast at least one vote of this kind. */
  voters: number;
  /** The runner-up's votes (0 when there is none). */
  runnerUp: number;
}

export interface SelfPointerVotes {
  directMap?: Consensus;
  kernelImage?: Consensus;
  /** Objects examined. */
  examined: number;
}

function inRange(v: bigint, [lo, hi]: readonly [bigint, bigint]): boolean {
  return v >= lo && v < hi;
}

function consensus(counts: Map<bigint, number>, voters: number): Consensus | undefined {
  let best: [bigint, number] | undefined;
  let second = 0;
  for (const [v, n] of counts) {
    if (best === undefined || n > best[1] || (n === best[1] && v < best[0])) {
      if (best !== undefined) second = Math.max(second, best[1]);
      best = [v, n];
    } else {
      second = Math.max(second, n);
    }
  }
  return best && { value: best[0], votes: best[1], voters, runnerUp: second };
}

/** Count the VA − PA offsets that self-pointers of `objects` imply. */
export function selfPointerVotes(objects: readonly CandidateBytes[], t: TaskLayout): SelfPointerVotes {
  const direct = new Map<bigint, number>();
  const image = new Map<bigint, number>();
  let directVoters = 0;
  let imageVoters = 0;
  const selfRefs: Array<[number, number]> = t.listHeads.map((o) => [o, o]);
  if (t.cpusPtr && t.cpusMask) selfRefs.push([t.cpusPtr.offset, t.cpusMask.offset]);
  for (const { pa, bytes } of objects) {
    const mine = new Set<bigint>();
    for (const [ptrAt, target] of selfRefs) {
      const ptr = readU(bytes, ptrAt, 8);
      if (ptr === undefined || ptr === 0n) continue;
      // A list head counts only when empty (prev == next): a linked one points elsewhere.
      if (ptrAt === target) {
        const prev = readU(bytes, ptrAt + t.listPrev - t.listNext, 8);
        if (prev !== ptr) continue;
      }
      const delta = ptr - BigInt(pa + target);
      if (delta <= 0n) continue;
      mine.add(delta);
    }
    let votedDirect = false;
    let votedImage = false;
    for (const delta of mine) {
      if (delta % DIRECT_MAP_ALIGN === 0n && (inRange(delta, DIRECT_MAP_RANGE_L4) || inRange(delta, DIRECT_MAP_RANGE_L5))) {
        direct.set(delta, (direct.get(delta) ?? 0) + 1);
        votedDirect = true;
      } else if (delta >= START_KERNEL_MAP) {
        image.set(delta, (image.get(delta) ?? 0) + 1);
        votedImage = true;
      }
    }
    if (votedDirect) directVoters += 1;
    if (votedImage) imageVoters += 1;
  }
  const out: SelfPointerVotes = { examined: objects.length };
  const d = consensus(direct, directVoters);
  if (d) out.directMap = d;
  const k = consensus(image, imageVoters);
  if (k) out.kernelImage = k;
  return out;
}
