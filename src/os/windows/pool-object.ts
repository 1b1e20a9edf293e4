// An executive object in its pool block: [_POOL_HEADER][optional headers][_OBJECT_HEADER]
// [body]. Two directions:
// - pool header → body (`locateBody`), what a pool-tag scanner does with a tag hit. The
//   rules are Volatility 3's (framework/symbols/windows/extensions/pool.py,
//   POOL_HEADER.get_object, @ a1961401; facts pool.object_placement): up to Windows 7
//   the body ends the block ("bottom-up": block start + BlockSize·granularity −
//   round_up(sizeof(_EPROCESS), granularity)); from Windows 8 on, the _OBJECT_HEADER is
//   searched top-down from the end of the pool header, one granularity step at a time,
//   where its PointerCount is plausible (0 ≤ count < 0x1000000) — the optional headers
//   (InfoMask) then lie between the two headers.
// - body → pool header (`poolBlockOf`), for exit evidence: the optional headers named by
//   the object header (XP: *InfoOffset bytes and the creator flag; 7+: InfoMask bits,
//   lowest bit next to the object header) lead back to where the pool header must be.
import { type PhysAddr, phys } from '../../addr.js';
import { InvalidAddressError } from '../../errors.js';
import type { PhysReadable } from '../../layers/physical.js';
import { usesTopDownPlacement } from './facts.js';
import { type WinModel, readMember, readUint } from './model.js';

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function tryRead(image: PhysReadable, pa: number, length: number): Uint8Array | undefined {
  if (pa < 0 || length <= 0) return undefined;
  try {
    return image.readPhys(phys(pa), length);
  } catch (err) {
    if (err instanceof InvalidAddressError || err instanceof RangeError) return undefined;
    throw err;
  }
}

/** Bytes of the optional headers an InfoMask announces (7 and later). */
export function infoMaskLength(m: WinModel, mask: number): number {
  let n = 0;
  for (const h of m.oh.optional) if (h.bit !== undefined && (mask & h.bit) !== 0) n += h.size;
  return n;
}

/** Largest span of optional headers a build can have (the top-down search's bound). */
export function maxOptionalLength(m: WinModel): number {
  return m.oh.optional.reduce((n, h) => n + h.size, 0);
}

/**
 * Where the body of the object in the pool block whose header is at `headerPa` starts,
 * by the build's placement rule; undefined when the block cannot hold one. With
 * `accept`, the top-down search returns the first position `accept` takes (Volatility
 * yields every position whose object validates); without it, the first position whose
 * InfoMask accounts exactly for the bytes between the two headers.
 */
export function locateBody(m: WinModel, image: PhysReadable, headerPa: PhysAddr, accept?: (bodyPa: PhysAddr) => boolean): PhysAddr | undefined {
  const { pool } = m;
  const header = tryRead(image, headerPa, pool.headerSize);
  if (header === undefined) return undefined;
  const blockBytes = Number(readMember(header, 0, pool.blockSize)) * pool.gran;
  const bodySize = roundUp(m.ep.size, pool.gran);
  if (!usesTopDownPlacement(m.facts)) {
    if (blockBytes < pool.headerSize + m.oh.bodyOffset + bodySize) return undefined;
    return phys(headerPa + blockBytes - bodySize);
  }
  const start = headerPa + pool.headerSize;
  const limit = Math.min(maxOptionalLength(m), blockBytes);
  const span = limit + m.oh.bodyOffset;
  const bytes = tryRead(image, start, span);
  if (bytes === undefined) return undefined;
  const pc = m.oh.pointerCount;
  let firstPlausible: PhysAddr | undefined;
  for (let addr = 0; addr < limit; addr += pool.gran) {
    if (addr + pc.offset + pc.size > bytes.length) break;
    const count = BigInt.asIntN(pc.size * 8, readUint(bytes, addr + pc.offset, pc.size));
    if (count < 0n || count >= 0x1000000n) continue;
    const body = phys(start + addr + m.oh.bodyOffset);
    if (accept !== undefined) {
      if (accept(body)) return body;
      firstPlausible ??= body;
      continue;
    }
    const mask = m.oh.infoMask === undefined ? 0 : Number(readMember(bytes, addr, m.oh.infoMask));
    if (infoMaskLength(m, mask) === addr) return body;
    firstPlausible ??= body;
  }
  return firstPlausible;
}

/** The pool block an object body sits in, as its headers say. */
export interface PoolBlockView {
  objectHeaderPa: PhysAddr;
  /** Where the pool header must be, from the optional headers the object header names. */
  headerPa: PhysAddr;
  /** BlockSize · granularity, PoolType, PoolTag as stored there. */
  blockBytes: number;
  poolType: number;
  tag: number;
  /** The block starts at headerPa and holds the whole object. */
  consistent: boolean;
}

/** Read back from the body at `bodyPa` to its pool header; undefined when unreadable. */
export function poolBlockOf(m: WinModel, image: PhysReadable, bodyPa: PhysAddr): PoolBlockView | undefined {
  const ohPa = bodyPa - m.oh.bodyOffset;
  const oh = tryRead(image, ohPa, m.oh.bodyOffset);
  if (oh === undefined) return undefined;
  let lowest = ohPa;
  if (m.oh.infoMask !== undefined) {
    lowest -= infoMaskLength(m, Number(readMember(oh, 0, m.oh.infoMask)));
  } else {
    const flags = Number(readMember(oh, 0, m.oh.flags));
    for (const h of m.oh.optional) {
      if (h.offsetMember !== undefined) {
        const back = Number(readMember(oh, 0, h.offsetMember));
        if (back > 0) lowest = Math.min(lowest, ohPa - back);
      } else if (h.flag !== undefined && (flags & h.flag) !== 0) {
        lowest = Math.min(lowest, ohPa - h.size);
      }
    }
  }
  const headerPa = lowest - m.pool.headerSize;
  const header = tryRead(image, headerPa, m.pool.headerSize);
  if (header === undefined) return undefined;
  const blockBytes = Number(readMember(header, 0, m.pool.blockSize)) * m.pool.gran;
  const consistent = blockBytes > 0 && headerPa + blockBytes >= bodyPa + m.ep.size && blockBytes <= 4096;
  return {
    objectHeaderPa: phys(ohPa),
    headerPa: phys(headerPa),
    blockBytes,
    poolType: Number(readMember(header, 0, m.pool.poolType)),
    tag: Number(readMember(header, 0, m.pool.tag)),
    consistent,
  };
}
