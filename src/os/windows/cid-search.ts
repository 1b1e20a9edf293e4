// PspCidTable without symbols. The CID table maps every process and thread id to its
// object body (./handle-table.ts), so a level-0 page of it holds, at entry id/4 mod
// entries-per-page, the body address of each process and thread whose id falls in that
// page. The known objects (carved processes and the threads on their lists, with their
// ids) predict those entries; every 4 KiB-mapped kernel page (pool, from the reverse map)
// is read once and a page where at least MIN_MATCHES predictions hold is taken as a CID
// page, its place in the table (which ids it covers) given by the matches.
// Process handle tables cannot pass: their entries point at object headers, not bodies.
//
// Cost: one read of every 4 KiB-mapped kernel page (about the pool's size), comparing
// entries as 32-bit halves. Used only when no PspCidTable symbol is given.
import { type PhysAddr, phys, virt } from '../../addr.js';
import type { WindowsKernelSpace } from './kernel-space.js';
import { type WinModel } from './model.js';
import { PAGE, entriesPerPage, entryObject, type HandleEntry } from './handle-table.js';

/** Predictions a page must confirm to count as part of PspCidTable. */
export const MIN_MATCHES = 2;

export interface Known {
  /** A process or thread id (a handle of the CID table). */
  id: number;
  /** Its object body's VA. */
  va: bigint;
}

export interface CidSearch {
  entries: HandleEntry[];
  pages: number;
  pagesRead: number;
  ms: number;
}

/** The 32-bit half of an entry the quick filter compares (see entryObject). */
function filterKey(m: WinModel, va: bigint): number {
  if (m.ht.objectPointerBits !== undefined) {
    // Bits 32..63 of the entry hold address bits 16..47 (ObjectPointerBits from bit 20, address >> 4).
    const pos = m.ht.objectPointerBits.bits!.position;
    return Number(((va & 0xffff_ffff_ffffn) >> 4n << BigInt(pos)) >> 32n) >>> 0;
  }
  return Number(va & 0xffff_fff8n) >>> 0;
}

function entryKey(m: WinModel, view: DataView, index: number): number {
  const at = index * m.ht.entrySize;
  if (m.ht.objectPointerBits !== undefined) return view.getUint32(at + m.ht.objectPointerBits.offset + 4, true);
  return (view.getUint32(at + m.ht.object!.offset, true) & 0xffff_fff8) >>> 0;
}

export function searchCidPages(m: WinModel, space: WindowsKernelSpace, known: readonly Known[]): CidSearch {
  const t0 = performance.now();
  const per = entriesPerPage(m);
  // slot → predictions; quick filter on 32-bit keys.
  const bySlot = new Map<number, Known[]>();
  const keys = new Set<number>();
  for (const k of known) {
    if (k.id <= 0 || k.id % 4 !== 0) continue;
    const slot = (k.id / 4) % per;
    const list = bySlot.get(slot) ?? [];
    list.push(k);
    bySlot.set(slot, list);
    keys.add(filterKey(m, k.va));
  }
  const out: CidSearch = { entries: [], pages: 0, pagesRead: 0, ms: 0 };
  const seenPages = new Set<number>();
  const page = new Uint8Array(PAGE);
  const view = new DataView(page.buffer);
  for (const run of space.reverseMap().smallRuns()) {
    for (let off = 0; off < run.length; off += PAGE) {
      const pa = run.pa + off;
      if (seenPages.has(pa)) continue;
      seenPages.add(pa);
      try {
        page.set(space.readPhys(phys(pa) as PhysAddr, PAGE));
      } catch {
        continue;
      }
      out.pagesRead += 1;
      // Which table page (k) do the matches put this page at?
      const votes = new Map<number, number>();
      for (const [slot, preds] of bySlot) {
        if (!keys.has(entryKey(m, view, slot))) continue;
        const object = entryObject(m, page, slot);
        for (const p of preds) if (p.va === object) votes.set(Math.floor(p.id / 4 / per), (votes.get(Math.floor(p.id / 4 / per)) ?? 0) + 1);
      }
      let best = -1;
      let n = 0;
      for (const [k, c] of votes) if (c > n) [best, n] = [k, c];
      if (n < MIN_MATCHES) continue;
      out.pages += 1;
      for (let i = 0; i < per; i += 1) {
        const object = entryObject(m, page, i);
        if (object !== 0n && m.isKernel(object)) out.entries.push({ handle: (best * per + i) * 4, object: virt(object) });
      }
    }
  }
  out.ms = performance.now() - t0;
  return out;
}
