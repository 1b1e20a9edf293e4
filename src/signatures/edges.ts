// Graph edges: a candidate that passed the value constraints is confirmed by
// what its pointers reach (SigGraph, NDSS 2011; DeepMem, CCS 2018): the struct
// pid its thread_pid points to carries the same pid, its stack starts with
// STACK_END_MAGIC, its mm's owner points back to it, its page-table root maps
// itself. Pointers are followed through the image's kernel address space.
//
// An edge is `held`, `failed`, or `unreadable` (the pointer does not translate, or
// its target lies in a hole of the image). Unreadable is an expected fault of
// following pointers in a dead image, handled here; anything else propagates.
import { InvalidAddressError } from '../errors.js';
import type { PhysAddr, VirtAddr } from '../addr.js';
import type { ResolvedEdge, Signature } from './load.js';
import type { PointerMode } from './program.js';
import { readField as readUnsigned } from './reference.js';

/** The kernel's address space as far as a scan knows it. */
export interface KernelSpace {
  /** Shape of kernel pointers in this image. */
  pointerMode: PointerMode;
  /** Physical address of a kernel virtual address; throws InvalidAddressError if unmapped. */
  translateVirt(va: VirtAddr): PhysAddr;
  /** Kernel virtual address at which the object at `pa` lives, if known (Linux: the direct map). */
  virtOfPhys(pa: PhysAddr): VirtAddr | undefined;
  /** Bytes at a physical address; throws InvalidAddressError when any byte is in a hole. */
  readPhys(pa: PhysAddr, length: number): Uint8Array;
  /** The same into the caller's array (optional: lets a reader reuse one buffer). */
  readPhysInto?(pa: PhysAddr, target: Uint8Array): void;
}

export type EdgeOutcome = 'held' | 'failed' | 'unreadable';

export interface EdgeResult {
  name: string;
  outcome: EdgeOutcome;
}

export interface Verdict {
  /** Edge outcomes in signature order. */
  edges: EdgeResult[];
  /** Weighted share of edges that held (1 when the signature has no edges). */
  score: number;
  /** All required edges held and score >= the signature's minScore. */
  accepted: boolean;
}


export interface EdgeContext {
  space: KernelSpace;
  /** Does the object at `pa` satisfy the signature's value constraints? (for matchesSignature) */
  matchesAt(pa: PhysAddr): boolean;
}

function asVirt(v: bigint): VirtAddr {
  return v as VirtAddr;
}

function asPhys(v: bigint): PhysAddr | undefined {
  return v >= 0n && v < 2n ** 52n ? (Number(v) as PhysAddr) : undefined;
}

/**
 * Evaluate one edge for the object whose bytes are `self` (at least the target
 * type's size), at physical address `pa`.
 */
export function evaluateEdge(edge: ResolvedEdge, self: Uint8Array, pa: PhysAddr, ctx: EdgeContext): EdgeOutcome {
  try {
    return evaluate(edge, self, pa, ctx);
  } catch (err) {
    if (err instanceof InvalidAddressError) return 'unreadable';
    throw err;
  }
}

function evaluate(edge: ResolvedEdge, self: Uint8Array, pa: PhysAddr, ctx: EdgeContext): EdgeOutcome {
  const { space } = ctx;
  let value: bigint;
  if (edge.from) {
    let ptr = readUnsigned(self, edge.from.offset, edge.from.width) & ~edge.clearBits;
    if (ptr === 0n) return 'failed';
    ptr -= BigInt(edge.containerDelta);
    let targetPa: PhysAddr | undefined;
    if (edge.space === 'physical') {
      targetPa = asPhys(ptr);
      if (targetPa === undefined) return 'failed';
    } else {
      targetPa = space.translateVirt(asVirt(ptr));
    }
    if (edge.special === 'pml4-self-ref') return pml4SelfRef(space, targetPa);
    const read = edge.read!;
    const bytes = space.readPhys((targetPa + read.offset) as PhysAddr, read.width);
    value = readUnsigned(bytes, 0, read.width);
  } else {
    const read = edge.read!;
    value = readUnsigned(self, read.offset, read.width);
  }
  for (const e of edge.expect) {
    switch (e.kind) {
      case 'value':
        if (value === e.value) return 'held';
        break;
      case 'field':
        if (value === readUnsigned(self, e.offset, e.width)) return 'held';
        break;
      case 'self': {
        const va = space.virtOfPhys(pa);
        if (va !== undefined && value === va + BigInt(e.delta)) return 'held';
        break;
      }
      case 'matches': {
        if (value === 0n) break;
        let targetPa: PhysAddr;
        try {
          targetPa = space.translateVirt(asVirt(value - BigInt(e.delta)));
        } catch (err) {
          if (err instanceof InvalidAddressError) break;
          throw err;
        }
        if (ctx.matchesAt(targetPa)) return 'held';
        break;
      }
    }
  }
  return 'failed';
}

/** Bits 12..51 of an x86-64 paging entry: the physical frame (Intel SDM 3A, 4.5). */
const FRAME_MASK = 0x000f_ffff_ffff_f000n;

/** Does the PML4 page at `dtb` contain a present entry that points to itself? */
function pml4SelfRef(space: KernelSpace, dtb: PhysAddr): EdgeOutcome {
  const base = Number(BigInt(dtb) & FRAME_MASK) as PhysAddr;
  const page = space.readPhys(base, 4096);
  for (let i = 0; i < 512; i += 1) {
    const e = readUnsigned(page, i * 8, 8);
    if ((e & 1n) === 1n && (e & FRAME_MASK) === BigInt(base)) return 'held';
  }
  return 'failed';
}

/** Evaluate every edge of a signature and score the candidate. */
export function judge(sig: Signature, self: Uint8Array, pa: PhysAddr, ctx: EdgeContext): Verdict {
  const edges: EdgeResult[] = [];
  let total = 0;
  let held = 0;
  let requiredOk = true;
  for (const edge of sig.edges) {
    const outcome = evaluateEdge(edge, self, pa, ctx);
    edges.push({ name: edge.name, outcome });
    total += edge.weight;
    if (outcome === 'held') held += edge.weight;
    else if (edge.required) requiredOk = false;
  }
  const score = total === 0 ? 1 : held / total;
  return { edges, score, accepted: requiredOk && score >= sig.minScore };
}
