// The "straightforward fast TypeScript loop" the bench compares against: the
// prefilter of a u32/u64 eq or mask constraint as plain number compares on a
// DataView (a u64 as two u32 halves, no bigint), and the reference evaluator
// (the specification) only on prefilter hits. Other prefilters fall back to
// the reference for every candidate. Not used by kcarve itself.
import type { Program, ScanWindow } from '../src/signatures/program.js';
import { evaluateAt } from '../src/signatures/reference.js';
import { firstCandidate } from '../src/signatures/window.js';

export function fastTsScan(bytes: Uint8Array, program: Program, w: ScanWindow): number[] {
  const hits: number[] = [];
  const first = program.constraints[0]!;
  const a = program.alignment;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = firstCandidate(w, a);
  if ((first.kind === 'eq' || first.kind === 'mask') && (first.width === 4 || first.width === 8)) {
    const mask = first.kind === 'mask' ? first.mask : (1n << BigInt(8 * first.width)) - 1n;
    const mLo = Number(mask & 0xffff_ffffn);
    const mHi = Number(mask >> 32n);
    const vLo = Number(first.value & 0xffff_ffffn);
    const vHi = Number(first.value >> 32n);
    const off = first.offset;
    const lastField = w.limit - first.width;
    for (let c = start; c < w.end; c += a) {
      const f = c + off;
      if (f > lastField) break;
      if (((dv.getUint32(f, true) & mLo) >>> 0) !== vLo) continue;
      if (first.width === 8 && ((dv.getUint32(f + 4, true) & mHi) >>> 0) !== vHi) continue;
      if (evaluateAt(bytes, c, w.limit, program)) hits.push(c);
    }
    return hits;
  }
  for (let c = start; c < w.end; c += a) if (evaluateAt(bytes, c, w.limit, program)) hits.push(c);
  return hits;
}
