// The corruptions a campaign writes into one member of a live task_struct.
//
// Dolan-Gavitt et al., "Robust signatures for kernel data structures" (CCS 2009), fuzzed
// the fields the kernel uses with several classes of replacement values; kcarve uses
// five: zero, all-ones, random bytes, one flipped bit (a rootkit changing one flag) and,
// for pointers, a *plausible but wrong* value: the same member of another live task
// (another task's mm, cred, stack, list neighbour or sched_class),
// which passes any "is a kernel pointer of this kind" check a scanner could make.
import type { LeafMember } from '../types/members.js';
import { SeededRandom } from '../datasets/linux/plan.js';

export type MutationKind = 'zero' | 'ones' | 'random' | 'bitflip' | 'pointer';
export const MUTATION_KINDS: readonly MutationKind[] = ['zero', 'ones', 'random', 'bitflip', 'pointer'];

/** The bytes of a member as the campaign reads and writes them. */
export interface MemberSpan {
  path: string;
  offset: number;
  size: number;
  kind: LeafMember['kind'];
  /** Bitfields: the member's bits inside the little-endian storage unit. */
  bits?: { position: number; length: number };
}

export function spanOf(leaf: LeafMember): MemberSpan {
  const s: MemberSpan = { path: leaf.path, offset: leaf.offset, size: leaf.size, kind: leaf.kind };
  if (leaf.bits) s.bits = leaf.bits;
  return s;
}

/** Does this mutation class apply to the member at all? */
export function applies(span: MemberSpan, kind: MutationKind): boolean {
  return kind !== 'pointer' || span.kind === 'pointer';
}

/** A deterministic generator per (seed, member, mutation, trial): a trial can be replayed. */
export function trialRandom(seed: number, path: string, kind: MutationKind, trial: number): SeededRandom {
  let h = 0x811c9dc5; // FNV-1a over the identifying text
  for (const c of `${path}|${kind}|${trial}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return new SeededRandom((h ^ seed) >>> 0);
}

/** Bit mask of the member inside its storage bytes (all ones for a plain member). */
function memberMask(span: MemberSpan): Buffer {
  const mask = Buffer.alloc(span.size, span.bits ? 0 : 0xff);
  if (span.bits) for (let b = span.bits.position; b < span.bits.position + span.bits.length; b++) mask[b >> 3]! |= 1 << (b & 7);
  return mask;
}

/** Replace the member's bits of `original` by those of `value`; other bits of the unit stay. */
function merge(original: Buffer, value: Buffer, mask: Buffer): Buffer {
  const out = Buffer.alloc(original.length);
  for (let i = 0; i < out.length; i++) out[i] = (original[i]! & ~mask[i]!) | (value[i]! & mask[i]!);
  return out;
}

/**
 * The bytes to write for `kind`, or undefined when the mutation does not apply or would
 * not change the member (zeroing a member that is already zero tells nothing).
 * `original` is the member's storage bytes in the target; `donors` the same bytes in other
 * tasks (for `pointer`).
 */
export function mutate(span: MemberSpan, kind: MutationKind, original: Buffer, rng: SeededRandom, donors: Buffer[] = []): Buffer | undefined {
  if (original.length !== span.size) throw new RangeError(`${span.path}: got ${original.length} bytes, the member has ${span.size}`);
  if (!applies(span, kind)) return undefined;
  const mask = memberMask(span);
  let out: Buffer | undefined;
  switch (kind) {
    case 'zero':
      out = merge(original, Buffer.alloc(span.size), mask);
      break;
    case 'ones':
      out = merge(original, Buffer.alloc(span.size, 0xff), mask);
      break;
    case 'random':
      for (let attempt = 0; attempt < 8; attempt++) {
        const r = Buffer.alloc(span.size);
        for (let i = 0; i < r.length; i++) r[i] = rng.below(256);
        out = merge(original, r, mask);
        if (!out.equals(original)) break;
      }
      break;
    case 'bitflip': {
      const positions: number[] = [];
      for (let b = 0; b < span.size * 8; b++) if (mask[b >> 3]! & (1 << (b & 7))) positions.push(b);
      const bit = positions[rng.below(positions.length)]!;
      out = Buffer.from(original);
      out[bit >> 3]! ^= 1 << (bit & 7);
      break;
    }
    case 'pointer': {
      // Another task's value of the same member: the same class of object, not ours.
      const candidates = donors.filter((d) => d.length === span.size && !d.equals(original) && !d.equals(Buffer.alloc(span.size)));
      if (candidates.length === 0) return undefined;
      out = Buffer.from(candidates[rng.below(candidates.length)]!);
      break;
    }
  }
  if (out === undefined || out.equals(original)) return undefined;
  return out;
}
