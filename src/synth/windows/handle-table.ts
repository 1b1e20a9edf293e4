// Handle tables: a process's ObjectTable and the kernel's PspCidTable (process and thread
// IDs are handles of that table), each a _HANDLE_TABLE in pool with TableCode pointing at
// pages of _HANDLE_TABLE_ENTRY (level 0) or at a page of pointers to such pages (level 1).
//
// Facts:
// - Handle value h is entry h/4; a level-0 page holds PAGE_SIZE / sizeof(entry) entries
//   (512 on x86, 256 on x64); the low 2 bits of TableCode give the number of levels above
//   (Volatility 2 volatility/plugins/overlays/windows/windows.py _HANDLE_TABLE._make_handle_array,
//   citing Russinovich's "Pushing the Limits of Windows: Handles").
// - Entry 0 of each level-0 page is not a handle (it holds audit information), so handle
//   values that are multiples of 4 · entries-per-page are never handed out.
// - An entry of a process's table points at the object's _OBJECT_HEADER; an entry of
//   PspCidTable points at the object body (EPROCESS / ETHREAD) (Volatility 2
//   volatility/plugins/malware/psxview.py _PSP_CID_TABLE.get_item subtracts
//   OBJECT_HEADER.Body; win8.py: "the PspCidTable pointers go directly to an object").
// - Encoding: XP keeps the pointer in Object with attribute bits 0..2 (0 here); Windows 7
//   sets bit 0 when the entry is unlocked (Volatility masks ~7 on both); Windows 10 packs
//   the pointer as ObjectPointerBits (bits 20..63 = address >> 4, the upper 16 bits
//   restored as 0xffff) with Unlocked in bit 0 (the 19041 _HANDLE_TABLE_ENTRY bitfields).
import type { PoolKind } from './address-space.js';
import type { Struct, WinLayout } from './layout.js';
import type { Pool, PoolBlock } from './pool.js';

export interface HandleEntry {
  /** The handle value (a multiple of 4, not a multiple of 4 · entries per page). */
  readonly handle: number;
  /** Header VA (process tables) or body VA (PspCidTable). */
  readonly object: bigint;
  readonly access: number;
}

export interface HandleTable {
  readonly block: PoolBlock;
  readonly s: Struct;
  /** VA of the _HANDLE_TABLE. */
  readonly va: bigint;
  readonly pages: { pa: number; va: bigint }[];
  readonly count: number;
  /** The entry pages (level 0, then level 1 if any) as they go into the canvas. */
  readonly entryPages: { pa: number; bytes: Uint8Array }[];
}

/** Entries per level-0 page. */
export function entriesPerPage(w: WinLayout): number {
  return 4096 / w.sizes.handleEntry;
}

/** True for a handle value the table can hand out (see the file comment). */
export function isUsableHandle(w: WinLayout, h: number): boolean {
  return h > 0 && h % 4 === 0 && (h / 4) % entriesPerPage(w) !== 0;
}

/** Encode one entry at `at` in `page`. */
function writeEntry(w: WinLayout, page: Uint8Array, at: number, e: HandleEntry, cid: boolean): void {
  const s = w.struct('_HANDLE_TABLE_ENTRY', page, at);
  switch (w.build.name) {
    case 'winxpsp2x86':
      s.set('Object', e.object);
      if (!cid) s.set('GrantedAccess', e.access);
      break;
    case 'win7sp1x64':
      s.set('Object', e.object | 1n);
      if (!cid) s.set('GrantedAccess', e.access);
      break;
    default:
      s.set('Unlocked', 1);
      s.set('ObjectPointerBits', (e.object & 0x0000ffffffffffffn) >> 4n);
      if (!cid) s.set('GrantedAccessBits', e.access & 0x1ffffff);
  }
}

/**
 * Build a handle table holding `entries`. `owner` is the process whose ObjectTable it is
 * (undefined for PspCidTable and the kernel's table, whose QuotaProcess is NULL).
 */
export function buildHandleTable(w: WinLayout, pool: Pool, kind: PoolKind, owner: { va: bigint; pid: number } | undefined, entries: readonly HandleEntry[], cid: boolean): HandleTable {
  const per = entriesPerPage(w);
  const maxIndex = entries.reduce((m, e) => Math.max(m, e.handle / 4), 1);
  const pageCount = Math.floor(maxIndex / per) + 1;
  const ptrsPerPage = 4096 / w.ptrSize;
  if (pageCount > ptrsPerPage) throw new Error(`synth windows: ${entries.length} handles need a 3-level handle table (not modelled)`);
  const pages = Array.from({ length: pageCount }, () => pool.bigPage('paged'));
  const bufs = pages.map(() => new Uint8Array(4096));
  for (const e of entries) {
    if (!isUsableHandle(w, e.handle)) throw new Error(`synth windows: handle ${e.handle} is not a usable handle value (world bug)`);
    const index = e.handle / 4;
    writeEntry(w, bufs[Math.floor(index / per)]!, (index % per) * w.sizes.handleEntry, e, cid);
  }
  let tableCode = pages[0]!.va;
  let level1: { pa: number; va: bigint; bytes: Uint8Array } | undefined;
  if (pageCount > 1) {
    const l1 = pool.bigPage('paged');
    const bytes = new Uint8Array(4096);
    const v = new DataView(bytes.buffer);
    pages.forEach((p, i) => (w.ptrSize === 8 ? v.setBigUint64(i * 8, p.va, true) : v.setUint32(i * 4, Number(p.va), true)));
    level1 = { ...l1, bytes };
    tableCode = l1.va | 1n;
  }
  const hs = w.sizes.poolHeader;
  const block = pool.alloc(kind, hs + w.sizes.handleTable, 'Obtb', false);
  const s = w.struct('_HANDLE_TABLE', block.bytes, hs);
  const va = block.va + BigInt(hs);
  s.set('TableCode', tableCode);
  s.set('QuotaProcess', owner?.va ?? 0n);
  s.set('UniqueProcessId', owner ? BigInt(owner.pid) : 0n);
  s.set('NextHandleNeedingPool', pageCount * per * 4);
  s.trySet('HandleCount', entries.length);
  s.set('HandleTableList.Flink', va + BigInt(s.off('HandleTableList')));
  s.set('HandleTableList.Blink', va + BigInt(s.off('HandleTableList')));
  const entryPages = [...pages.map((p, i) => ({ pa: p.pa, bytes: bufs[i]! })), ...(level1 ? [{ pa: level1.pa, bytes: level1.bytes }] : [])];
  return { block, s, va, pages, count: entries.length, entryPages };
}

/** Decode one entry's object pointer (for tests and scanners): the inverse of writeEntry. */
export function decodeEntry(w: WinLayout, page: Uint8Array, index: number): bigint {
  const s = w.struct('_HANDLE_TABLE_ENTRY', page, index * w.sizes.handleEntry);
  if (w.build.name === 'win10x64_19041') {
    const bits = s.big('ObjectPointerBits');
    return bits === 0n ? 0n : (bits << 4n) | 0xffff000000000000n;
  }
  return s.big('Object') & ~7n;
}
