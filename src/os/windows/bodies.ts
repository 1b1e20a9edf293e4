// The _EPROCESS bodies behind a scan's value hits. A signature scanning _EPROCESS itself
// hits bodies; a pool-tag signature (`scan.locate: windows-pool-body`) hits pool headers,
// each leading to a body by the build's placement rule (./pool-object.ts), where the
// signature's target constraints must then hold.
import type { PhysAddr } from '../../addr.js';
import type { PhysReadable } from '../../layers/physical.js';
import type { Signature } from '../../signatures/load.js';
import type { PointerMode, Program } from '../../signatures/program.js';
import { evaluateAt } from '../../signatures/reference.js';
import { programSpan } from '../../signatures/program.js';
import { InvalidAddressError } from '../../errors.js';
import type { WinModel } from './model.js';
import { locateBody } from './pool-object.js';

const programs = new WeakMap<Signature, Map<PointerMode, Program | undefined>>();

function targetProgramOf(sig: Signature, mode: PointerMode): Program | undefined {
  let byMode = programs.get(sig);
  if (byMode === undefined) programs.set(sig, (byMode = new Map()));
  if (!byMode.has(mode)) byMode.set(mode, sig.targetProgram(mode));
  return byMode.get(mode);
}

/** Does the located body satisfy the signature's target constraints (undefined without any)? */
export function targetAccepts(sig: Signature, mode: PointerMode, image: PhysReadable): ((pa: PhysAddr) => boolean) | undefined {
  const program = targetProgramOf(sig, mode);
  if (program === undefined) return undefined;
  const span = programSpan(program);
  return (pa) => {
    let bytes: Uint8Array;
    try {
      bytes = image.readPhys(pa, span);
    } catch (err) {
      if (err instanceof InvalidAddressError) return false;
      throw err;
    }
    return evaluateAt(bytes, 0, span, program);
  };
}

/** The body a hit stands for (the hit itself unless the signature locates). */
export function bodyOfHit(m: WinModel, sig: Signature, image: PhysReadable, pa: PhysAddr, accept?: (pa: PhysAddr) => boolean): PhysAddr | undefined {
  if (sig.doc.scan === undefined) return pa;
  return locateBody(m, image, pa, accept);
}

/** Distinct bodies of `hits`, ascending, at most `limit` of them. */
export function bodiesOfHits(m: WinModel, sig: Signature, image: PhysReadable, hits: readonly PhysAddr[], limit: number): PhysAddr[] {
  const accept = targetAccepts(sig, m.pointerMode, image);
  const out = new Set<number>();
  for (const pa of hits) {
    if (out.size >= limit) break;
    const body = bodyOfHit(m, sig, image, pa, accept);
    if (body !== undefined && (accept === undefined || sig.doc.scan === undefined || accept(body))) out.add(body);
  }
  return [...out].sort((a, b) => a - b) as PhysAddr[];
}
